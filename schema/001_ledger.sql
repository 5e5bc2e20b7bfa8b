-- Placement Ledger: the event log and what appends need beside it.
-- Applied once, in order, by `placementctl migrate` and `placementd`; never edited once released.

-- The role the daemon works as. It may read and append events, never change them.
-- Roles belong to the whole cluster: another database's migration may be creating it right now.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'placement_app') THEN
        CREATE ROLE placement_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- Positions are derived from the appending transaction's id (see EventStore+Append.swift):
-- position = ((txid + position_offset) << 16) + index in the transaction. position_offset stays 0
-- unless the database is restored into a cluster whose transaction ids restart lower.
CREATE TABLE ledger_clock (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position_offset bigint NOT NULL DEFAULT 0
);
INSERT INTO ledger_clock DEFAULT VALUES;

CREATE TABLE events (
    position         bigint      PRIMARY KEY,
    id               uuid        NOT NULL UNIQUE,
    posting_id       text        NOT NULL,
    version          bigint      NOT NULL CHECK (version >= 1),
    type             text        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL,
    expected_version bigint,
    actor            text,
    data             jsonb       NOT NULL,
    prev_hash        bytea       NOT NULL,
    hash             bytea       NOT NULL,
    UNIQUE (posting_id, version)
);

-- One row per posting stream: its head (for chaining and optimistic concurrency) and a snapshot of
-- the rules' state, so an append need not re-read the stream. Derived data: rebuilt from events
-- when the snapshot format changes.
CREATE TABLE streams (
    posting_id      text    PRIMARY KEY,
    company_id      text    NOT NULL,
    version         bigint  NOT NULL,
    head_position   bigint  NOT NULL,
    head_hash       bytea   NOT NULL,
    snapshot_format integer NOT NULL,
    snapshot        text    NOT NULL
);

-- payment_ref is unique per company across all its postings.
CREATE TABLE payment_refs (
    company_id  text   NOT NULL,
    payment_ref text   NOT NULL,
    posting_id  text   NOT NULL,
    position    bigint NOT NULL,
    PRIMARY KEY (company_id, payment_ref)
);

CREATE TABLE seals (
    sequence      bigint      PRIMARY KEY,
    upto_position bigint      NOT NULL UNIQUE,
    event_count   bigint      NOT NULL,
    events_digest bytea       NOT NULL,
    prev_digest   bytea       NOT NULL,
    digest        bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Append-only in the database itself, whatever the client.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'placement ledger: % on % is refused: the ledger is append-only (record a correction event instead)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER seals_append_only BEFORE UPDATE OR DELETE ON seals
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER seals_no_truncate BEFORE TRUNCATE ON seals
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER payment_refs_append_only BEFORE UPDATE OR DELETE ON payment_refs
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER payment_refs_no_truncate BEFORE TRUNCATE ON payment_refs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

REVOKE ALL ON events, seals, payment_refs, streams, ledger_clock FROM PUBLIC;
GRANT SELECT, INSERT ON events, seals, payment_refs TO placement_app;
GRANT SELECT, INSERT, UPDATE ON streams TO placement_app;
GRANT SELECT ON ledger_clock, schema_migrations TO placement_app;
