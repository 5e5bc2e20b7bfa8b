-- The daemon's role no longer has CREATE on the database: with it, a stolen daemon password could
-- create any schema (one named after the owner, say, with look-alike tables that the owner's
-- commands would find on a default search_path). It creates the projections' schemas through this
-- function instead, which makes only names of the projections' own pattern (`proj_<name>`, the
-- rebuild's `proj_<name>_next`, a report's `proj_<name>_asof_<hex>`), owned by placement_app.
-- Dropping them needs no database right (their owner may), renaming does: a second function
-- renames one such schema to another such name.
CREATE FUNCTION placement_create_schema(name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF name !~ '^proj_[a-z][a-z0-9_]{0,50}$' THEN
        RAISE EXCEPTION 'placement_create_schema: % is not a projection schema name', name USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('CREATE SCHEMA %I AUTHORIZATION placement_app', name);
END
$$;

CREATE FUNCTION placement_rename_schema(name text, new_name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF name !~ '^proj_[a-z][a-z0-9_]{0,50}$' OR new_name !~ '^proj_[a-z][a-z0-9_]{0,50}$' THEN
        RAISE EXCEPTION 'placement_rename_schema: % or % is not a projection schema name', name, new_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = name AND nspowner = 'placement_app'::regrole) THEN
        RAISE EXCEPTION 'placement_rename_schema: % is not a schema of placement_app', name USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('ALTER SCHEMA %I RENAME TO %I', name, new_name);
END
$$;

REVOKE ALL ON FUNCTION placement_create_schema(text), placement_rename_schema(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION placement_create_schema(text), placement_rename_schema(text, text) TO placement_app;

DO $$
BEGIN
    EXECUTE format('REVOKE CREATE ON DATABASE %I FROM placement_app', current_database());
END
$$;
