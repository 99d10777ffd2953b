-- The keyed audit head (issue 10). Keep in step with ../sqlite: the parity test compares them.
-- `seal` is an HMAC over (org id, seq, hash) under a key derived from the master key, which the
-- database never holds: a head moved with plain SQL no longer matches its seal. NULL only until
-- the application seals the heads of an existing database once (recorded in audit_head_sealing).
ALTER TABLE audit_heads ADD COLUMN seal BYTEA;

-- One row, written when the heads of this database were first sealed; afterwards a head without
-- a seal is a broken head, never one to seal again.
CREATE TABLE audit_head_sealing (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    sealed_at  BIGINT NOT NULL
);
CREATE FUNCTION audit_head_sealing_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit head sealing record is permanent';
END
$$;
CREATE TRIGGER audit_head_sealing_no_update BEFORE UPDATE ON audit_head_sealing
    FOR EACH ROW EXECUTE FUNCTION audit_head_sealing_refuse_change();
CREATE TRIGGER audit_head_sealing_no_delete BEFORE DELETE ON audit_head_sealing
    FOR EACH ROW EXECUTE FUNCTION audit_head_sealing_refuse_change();
CREATE TRIGGER audit_head_sealing_no_truncate BEFORE TRUNCATE ON audit_head_sealing
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_sealing_refuse_change();

-- TRUNCATE skips row triggers: refuse it on every table whose rows cannot be deleted (the chain
-- heads, the signatures, the kept workflow records and attachments), as on the events.
CREATE FUNCTION refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% cannot be truncated', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER signatures_no_truncate BEFORE TRUNCATE ON signatures
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER workflow_runs_no_truncate BEFORE TRUNCATE ON workflow_runs
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER workflow_steps_no_truncate BEFORE TRUNCATE ON workflow_steps
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER file_attachments_no_truncate BEFORE TRUNCATE ON file_attachments
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();

-- When an API token was last used: instance-level bookkeeping (like sessions.last_seen_at),
-- kept out of the org's tables, whose every change is audited.
CREATE TABLE token_usage (
    token_id      TEXT PRIMARY KEY,
    last_used_at  BIGINT NOT NULL
);
INSERT INTO token_usage (token_id, last_used_at)
    SELECT id, last_used_at FROM api_tokens WHERE last_used_at IS NOT NULL;
ALTER TABLE api_tokens DROP COLUMN last_used_at;
