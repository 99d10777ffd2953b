-- The keyed audit head (issue 10). Keep in step with ../postgres: the parity test compares them.
-- `seal` is an HMAC over (org id, seq, hash) under a key derived from the master key, which the
-- database never holds: a head moved with plain SQL no longer matches its seal. NULL only until
-- the application seals the heads of an existing database once (recorded in audit_head_sealing).
ALTER TABLE audit_heads ADD COLUMN seal BLOB;

-- One row, written when the heads of this database were first sealed; afterwards a head without
-- a seal is a broken head, never one to seal again.
CREATE TABLE audit_head_sealing (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    sealed_at  BIGINT NOT NULL
);
CREATE TRIGGER audit_head_sealing_no_update BEFORE UPDATE ON audit_head_sealing
BEGIN
    SELECT RAISE(ABORT, 'the audit head sealing record is permanent');
END;
CREATE TRIGGER audit_head_sealing_no_delete BEFORE DELETE ON audit_head_sealing
BEGIN
    SELECT RAISE(ABORT, 'the audit head sealing record is permanent');
END;

-- When an API token was last used: instance-level bookkeeping (like sessions.last_seen_at),
-- kept out of the org's tables, whose every change is audited.
CREATE TABLE token_usage (
    token_id      TEXT PRIMARY KEY,
    last_used_at  BIGINT NOT NULL
);
INSERT INTO token_usage (token_id, last_used_at)
    SELECT id, last_used_at FROM api_tokens WHERE last_used_at IS NOT NULL;
ALTER TABLE api_tokens DROP COLUMN last_used_at;
