-- Private placement proofs (hash format 2). An event's hash then commits to a salted digest of its
-- content and a salted tag of its student, so a proof can show other students' events without
-- their ids or data. The salts derive from this secret (HMAC-SHA-256): it is read by the daemon,
-- which hashes new events, and by verify; it is never served. Events recorded before keep their
-- format (1) and keep verifying; `hash_format` says which rule each event's hash follows.
CREATE TABLE proof_secret (
    one        boolean     PRIMARY KEY DEFAULT true CHECK (one),
    secret     bytea       NOT NULL CHECK (octet_length(secret) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Two version 4 UUIDs from the server's strong random source: 244 random bits.
INSERT INTO proof_secret (secret) VALUES (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
CREATE TRIGGER proof_secret_append_only BEFORE UPDATE OR DELETE ON proof_secret
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER proof_secret_no_truncate BEFORE TRUNCATE ON proof_secret
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
REVOKE ALL ON proof_secret FROM PUBLIC;
GRANT SELECT ON proof_secret TO placement_app;

ALTER TABLE events ADD COLUMN hash_format smallint NOT NULL DEFAULT 1 CHECK (hash_format IN (1, 2));
