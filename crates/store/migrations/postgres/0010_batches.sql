-- Batches (issue: lab operations): named groups of samples processed together. Codes are gapless
-- per org (the next number is taken in the creating transaction, which org writes serialize).
CREATE TABLE batches (
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    id          TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    notes       TEXT,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    closed_at   BIGINT,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX batches_org_seq ON batches (org_id, seq);
CREATE UNIQUE INDEX batches_org_code ON batches (org_id, code);

CREATE TABLE batch_samples (
    org_id     TEXT NOT NULL,
    batch_id   TEXT NOT NULL,
    sample_id  TEXT NOT NULL,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, batch_id, sample_id),
    FOREIGN KEY (org_id, batch_id) REFERENCES batches (org_id, id),
    FOREIGN KEY (org_id, sample_id) REFERENCES samples (org_id, id)
);
CREATE INDEX batch_samples_sample ON batch_samples (org_id, sample_id);
