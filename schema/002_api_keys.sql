-- API keys: only a hash of each secret is stored. Keys are revoked, never deleted, so the record of
-- who could act stays.
CREATE TABLE api_keys (
    id          text        PRIMARY KEY,
    role        text        NOT NULL CHECK (role IN ('platform', 'company', 'university', 'admin')),
    org_id      text,
    secret_hash bytea       NOT NULL,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role IN ('company', 'university')) = (org_id IS NOT NULL))
);

REVOKE ALL ON api_keys FROM PUBLIC;
GRANT SELECT ON api_keys TO placement_app;
