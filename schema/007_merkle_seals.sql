-- Signed Merkle seals (format 2). A seal commits to the RFC 9162 Merkle tree of every event up to
-- its position, in gap-free position order, and is signed with Ed25519 by a key whose private half
-- lives outside the database. Seals made before this migration keep format 1 (a linear digest of
-- their own events) and keep verifying; every seal after it is format 2, linked to the one before
-- by digest whatever its format.
ALTER TABLE seals ADD COLUMN format smallint NOT NULL DEFAULT 1 CHECK (format IN (1, 2));
-- Format 2: leaves in the tree (every event up to upto_position), the signing key and signature.
-- events_digest holds the tree's root, event_count the events this seal added.
ALTER TABLE seals ADD COLUMN tree_size bigint;
ALTER TABLE seals ADD COLUMN key_id text;
ALTER TABLE seals ADD COLUMN signature bytea;
ALTER TABLE seals ADD CONSTRAINT seals_format_2 CHECK (format = 1 OR (tree_size IS NOT NULL AND key_id IS NOT NULL AND signature IS NOT NULL));

-- The roots of complete tiles of 256 leaves (tile t: leaves 256t .. 256t+255), with the positions
-- of their first and last events: a proof reads these and at most two tiles' events, never the
-- whole tree. Written by the sealer, append-only like the seals.
CREATE TABLE merkle_tiles (
    tile           bigint PRIMARY KEY CHECK (tile >= 0),
    first_position bigint NOT NULL UNIQUE,
    last_position  bigint NOT NULL UNIQUE,
    root           bytea  NOT NULL
);
CREATE TRIGGER merkle_tiles_append_only BEFORE UPDATE OR DELETE ON merkle_tiles
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER merkle_tiles_no_truncate BEFORE TRUNCATE ON merkle_tiles
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- The public halves of the seal signing keys (`placementctl seal-keys`), with when each was made
-- and retired. The private halves are files only the daemon can read.
CREATE TABLE seal_keys (
    key_id     text        PRIMARY KEY,
    public_key bytea       NOT NULL UNIQUE CHECK (octet_length(public_key) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);

REVOKE ALL ON merkle_tiles, seal_keys FROM PUBLIC;
GRANT SELECT, INSERT ON merkle_tiles TO placement_app;
GRANT SELECT ON seal_keys TO placement_app;
