-- Analysis outputs with provenance, retention and legal hold, key rotation (issue 5).

-- An analysis: an output (an existing file, or a structured JSON result kept here) derived
-- from one or more inputs by a method or software with parameters.
CREATE TABLE analyses (
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    id               TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    output_file_id   TEXT,
    result           TEXT,
    method           TEXT NOT NULL,
    software         TEXT,
    software_version TEXT,
    parameters       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    created_by       TEXT,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX analyses_org_seq ON analyses (org_id, seq);
CREATE INDEX analyses_org_output ON analyses (org_id, output_file_id);

-- The inputs of an analysis: files, samples or workflow runs of the same org.
CREATE TABLE analysis_inputs (
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    analysis_id TEXT NOT NULL,
    input_type  TEXT NOT NULL CHECK (input_type IN ('file', 'sample', 'workflow_run')),
    input_id    TEXT NOT NULL,
    PRIMARY KEY (org_id, analysis_id, input_type, input_id)
);
CREATE INDEX analysis_inputs_org_input ON analysis_inputs (org_id, input_type, input_id);

-- Retention: how many days a file of a category is kept before it may be deleted.
CREATE TABLE retention_policies (
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    category   TEXT NOT NULL CHECK (category IN ('raw', 'analysis', 'report', 'other')),
    days       BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, category)
);

-- Files: a category, a legal hold, and a tombstone once deleted.
ALTER TABLE files ADD COLUMN category TEXT NOT NULL DEFAULT 'raw';
ALTER TABLE files ADD COLUMN hold_reason TEXT;
ALTER TABLE files ADD COLUMN hold_at BIGINT;
ALTER TABLE files ADD COLUMN hold_by TEXT;
ALTER TABLE files ADD COLUMN deleted_at BIGINT;
ALTER TABLE files ADD COLUMN deleted_by TEXT;

-- Key rotation: which master key wrapped an org key (its fingerprint; '' = the first), the org
-- key's version, the next org key while a rotation runs, and the org key version that wraps
-- each object's data key.
ALTER TABLE org_keys ADD COLUMN master_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE org_keys ADD COLUMN key_version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE org_keys ADD COLUMN next_wrapped_key BYTEA;
ALTER TABLE file_objects ADD COLUMN key_version BIGINT NOT NULL DEFAULT 1;

-- A deleted org keeps its (disabled) row and audit chain; its key rows are destroyed.
ALTER TABLE orgs ADD COLUMN deleted_at BIGINT;
