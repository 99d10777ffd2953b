-- Samples (issue: lab operations). Codes are gapless per org: the counter row is taken in the
-- registering transaction.
CREATE TABLE sample_counters (
    org_id  TEXT PRIMARY KEY REFERENCES orgs (id),
    last    BIGINT NOT NULL
);

CREATE TABLE samples (
    org_id        TEXT NOT NULL REFERENCES orgs (id),
    id            TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    code          TEXT NOT NULL,
    sample_type   TEXT NOT NULL,
    status        TEXT NOT NULL,
    source_ref    TEXT,
    collected_at  BIGINT,
    received_at   BIGINT,
    quantity      REAL,
    unit          TEXT,
    notes         TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX samples_org_seq ON samples (org_id, seq);
CREATE UNIQUE INDEX samples_org_code ON samples (org_id, code);
CREATE INDEX samples_org_type ON samples (org_id, sample_type, seq);
CREATE INDEX samples_org_status ON samples (org_id, status, seq);
