-- Sensitive database fields (issue 5, encryption at rest). Keep in step with the other tree:
-- the parity test compares them.

-- Platform data keys: instance-level keys (not an org's), each stored wrapped by the master key
-- (AES-256-GCM, `platform-key:<purpose>` as associated data). `user-secrets` seals users' TOTP
-- secrets (a user belongs to many orgs, so no org key fits). A master rotation re-wraps these
-- rows; master_key_id names the master key that wraps each.
CREATE TABLE platform_keys (
    purpose        TEXT PRIMARY KEY,
    wrapped_key    BYTEA NOT NULL,
    master_key_id  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Which key seals user_totp.secret_enc: 0 = the master key itself (before this migration),
-- 1 = the platform `user-secrets` key. Rows written from now on default to 1; the rows that exist
-- are marked 0 here and re-sealed at the next start (or master rotation).
ALTER TABLE user_totp ADD COLUMN key_version BIGINT NOT NULL DEFAULT 1;
UPDATE user_totp SET key_version = 0;

-- A custom sample field marked sensitive (0/1): its values are stored sealed, never indexed.
ALTER TABLE sample_fields ADD COLUMN sensitive BIGINT NOT NULL DEFAULT 0;

-- Each org's key for sensitive custom field values, wrapped by the org key (like object data
-- keys): an org key rotation re-wraps it, deleting the org destroys it (crypto-shredding).
CREATE TABLE org_field_keys (
    org_id       TEXT PRIMARY KEY REFERENCES orgs (id),
    wrapped_key  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);
