-- Workflow runs (issue: lab operations): one run of an effective protocol version on a sample or
-- a batch, its steps recorded in order with their values, performer and verifier. A completed or
-- aborted run never changes: triggers refuse every change to a final run and its steps, and any
-- delete.
CREATE TABLE workflow_runs (
    org_id               TEXT NOT NULL REFERENCES orgs (id),
    id                   TEXT NOT NULL,
    seq                  BIGINT NOT NULL,
    protocol_version_id  TEXT NOT NULL,
    target_type          TEXT NOT NULL,
    sample_id            TEXT,
    batch_id             TEXT,
    status               TEXT NOT NULL,
    abort_reason         TEXT,
    started_by           TEXT NOT NULL,
    started_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    ended_by             TEXT,
    ended_at             BIGINT,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, protocol_version_id) REFERENCES protocol_versions (org_id, id),
    FOREIGN KEY (org_id, sample_id) REFERENCES samples (org_id, id),
    FOREIGN KEY (org_id, batch_id) REFERENCES batches (org_id, id)
);
CREATE UNIQUE INDEX workflow_runs_seq ON workflow_runs (org_id, seq);
CREATE INDEX workflow_runs_status ON workflow_runs (org_id, status, seq);
CREATE INDEX workflow_runs_sample ON workflow_runs (org_id, sample_id, seq);
CREATE INDEX workflow_runs_batch ON workflow_runs (org_id, batch_id, seq);

-- The samples a run covers: the one sample, or the batch's samples when the run started.
CREATE TABLE workflow_run_samples (
    org_id     TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    sample_id  TEXT NOT NULL,
    PRIMARY KEY (org_id, run_id, sample_id),
    FOREIGN KEY (org_id, run_id) REFERENCES workflow_runs (org_id, id),
    FOREIGN KEY (org_id, sample_id) REFERENCES samples (org_id, id)
);
CREATE INDEX workflow_run_samples_sample ON workflow_run_samples (org_id, sample_id);

CREATE TABLE workflow_steps (
    org_id                  TEXT NOT NULL,
    run_id                  TEXT NOT NULL,
    step_index              BIGINT NOT NULL,
    step_title              TEXT NOT NULL,
    step_values             TEXT NOT NULL,
    performed_by            TEXT NOT NULL,
    performer_name          TEXT NOT NULL,
    performed_at            BIGINT NOT NULL,
    performed_signature_id  TEXT NOT NULL,
    verified_by             TEXT,
    verifier_name           TEXT,
    verified_at             BIGINT,
    verified_signature_id   TEXT,
    PRIMARY KEY (org_id, run_id, step_index),
    FOREIGN KEY (org_id, run_id) REFERENCES workflow_runs (org_id, id)
);

CREATE TRIGGER workflow_runs_final BEFORE UPDATE ON workflow_runs
WHEN OLD.status <> 'in_progress'
BEGIN
    SELECT RAISE(ABORT, 'a completed or aborted workflow run never changes');
END;
CREATE TRIGGER workflow_runs_no_delete BEFORE DELETE ON workflow_runs
BEGIN
    SELECT RAISE(ABORT, 'workflow runs are kept');
END;
CREATE TRIGGER workflow_steps_no_delete BEFORE DELETE ON workflow_steps
BEGIN
    SELECT RAISE(ABORT, 'workflow steps are kept');
END;
-- A recorded step changes once: its verification is added.
CREATE TRIGGER workflow_steps_once BEFORE UPDATE ON workflow_steps
WHEN OLD.verified_by IS NOT NULL
    OR NEW.step_values <> OLD.step_values OR NEW.performed_by <> OLD.performed_by
    OR NEW.performed_at <> OLD.performed_at OR NEW.step_title <> OLD.step_title
    OR NEW.performed_signature_id <> OLD.performed_signature_id
BEGIN
    SELECT RAISE(ABORT, 'a recorded workflow step never changes');
END;
