-- Projections: read models derived from the log. Their tables live in one schema per projection
-- (proj_<name>), created and rebuilt by the code that owns their shape (the projection's version),
-- always as placement_app. Here: the checkpoints, and the rights to create those schemas.

-- One row per projection: the live schema's checkpoint. A worker updates it in the same
-- transaction as the rows it derived (exactly-once effect); a rebuild swaps schemas and moves it
-- in one transaction.
CREATE TABLE projections (
    name              text        PRIMARY KEY,
    version           integer     NOT NULL,
    position          bigint      NOT NULL DEFAULT 0,
    events            bigint      NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    rebuild_version   integer,
    rebuild_position  bigint,
    rebuild_started   timestamptz
);

REVOKE ALL ON projections FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON projections TO placement_app;

-- The daemon (placement_app) creates and swaps projection schemas; the owner acts as placement_app
-- when it replays, so every projection object has one owner.
DO $$
BEGIN
    EXECUTE format('GRANT CREATE ON DATABASE %I TO placement_app', current_database());
    IF NOT pg_has_role(current_user, 'placement_app', 'MEMBER') THEN
        EXECUTE format('GRANT placement_app TO %I', current_user);
    END IF;
END
$$;
