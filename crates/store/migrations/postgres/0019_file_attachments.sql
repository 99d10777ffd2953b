-- Evidence files attached to a sample, a batch or a workflow run (issue 5; files filed under a
-- project stay in project_files). One row per (target, file); `target_id` repeats the one
-- typed column that is set, so each kind keeps its foreign key. Attachments are append-only:
-- triggers refuse UPDATE and DELETE, and refuse a new attachment to a completed or aborted
-- workflow run (a finished run is a signed record). Closed batches take attachments: closing
-- freezes a batch's samples, and a batch is processed (workflow runs) only once closed.
CREATE TABLE file_attachments (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    file_id      TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    sample_id    TEXT,
    batch_id     TEXT,
    run_id       TEXT,
    added_at     BIGINT NOT NULL,
    added_by     TEXT,
    PRIMARY KEY (org_id, target_type, target_id, file_id),
    CHECK (
        (target_type = 'sample' AND sample_id = target_id AND batch_id IS NULL AND run_id IS NULL)
        OR (target_type = 'batch' AND batch_id = target_id AND sample_id IS NULL AND run_id IS NULL)
        OR (target_type = 'workflow_run' AND run_id = target_id AND sample_id IS NULL AND batch_id IS NULL)
    ),
    FOREIGN KEY (org_id, file_id) REFERENCES files (org_id, id),
    FOREIGN KEY (org_id, sample_id) REFERENCES samples (org_id, id),
    FOREIGN KEY (org_id, batch_id) REFERENCES batches (org_id, id),
    FOREIGN KEY (org_id, run_id) REFERENCES workflow_runs (org_id, id)
);
CREATE INDEX file_attachments_file ON file_attachments (org_id, file_id);

CREATE FUNCTION file_attachments_refuse_final_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.run_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM workflow_runs
        WHERE org_id = NEW.org_id AND id = NEW.run_id AND status <> 'in_progress'
    ) THEN
        RAISE EXCEPTION 'a completed or aborted workflow run takes no new evidence';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER file_attachments_run_final BEFORE INSERT ON file_attachments
    FOR EACH ROW EXECUTE FUNCTION file_attachments_refuse_final_run();
CREATE FUNCTION file_attachments_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'file attachments are kept unchanged';
END
$$;
CREATE TRIGGER file_attachments_kept BEFORE UPDATE ON file_attachments
    FOR EACH ROW EXECUTE FUNCTION file_attachments_refuse_change();
CREATE TRIGGER file_attachments_no_delete BEFORE DELETE ON file_attachments
    FOR EACH ROW EXECUTE FUNCTION file_attachments_refuse_change();
