-- Restore drills (`labledger backup verify` pointed at the live instance). Keep in step with
-- ../sqlite: the parity test compares them. Instance-level, like the sealing record: no org's
-- records change, so no org chain; the rows are append-only instead (triggers below).
CREATE TABLE backup_drills (
    id            TEXT PRIMARY KEY,
    at            BIGINT NOT NULL,
    archive       TEXT NOT NULL,
    archive_size  BIGINT NOT NULL,
    result        TEXT NOT NULL CHECK (result IN ('pass', 'fail')),
    detail        TEXT NOT NULL,
    duration_ms   BIGINT NOT NULL
);
CREATE INDEX backup_drills_at ON backup_drills (at);
CREATE FUNCTION backup_drills_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'backup drill records are kept unchanged';
END
$$;
CREATE TRIGGER backup_drills_no_update BEFORE UPDATE ON backup_drills
    FOR EACH ROW EXECUTE FUNCTION backup_drills_refuse_change();
CREATE TRIGGER backup_drills_no_delete BEFORE DELETE ON backup_drills
    FOR EACH ROW EXECUTE FUNCTION backup_drills_refuse_change();
CREATE TRIGGER backup_drills_no_truncate BEFORE TRUNCATE ON backup_drills
    FOR EACH STATEMENT EXECUTE FUNCTION backup_drills_refuse_change();
