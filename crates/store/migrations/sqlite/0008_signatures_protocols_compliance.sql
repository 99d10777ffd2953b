-- Electronic signatures (one table for every record type), protocols with versions, and
-- compliance records (deviations, CAPA) with a generic link table.

-- A signature binds its signer, meaning and time to the SHA-256 of the record's canonical
-- content (RFC 8785) at signing. Append-only: triggers refuse UPDATE and DELETE.
CREATE TABLE signatures (
    org_id        TEXT NOT NULL REFERENCES orgs (id),
    id            TEXT NOT NULL,
    record_type   TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    meaning       TEXT NOT NULL,
    signer_id     TEXT NOT NULL,
    signer_name   TEXT NOT NULL,
    signed_at     BIGINT NOT NULL,
    content_hash  BLOB NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX signatures_org_record ON signatures (org_id, record_type, record_id, signed_at);

CREATE TABLE protocols (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    id           TEXT NOT NULL,
    title        TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX protocols_org_created ON protocols (org_id, created_at);

CREATE TABLE protocol_versions (
    org_id          TEXT NOT NULL REFERENCES orgs (id),
    id              TEXT NOT NULL,
    protocol_id     TEXT NOT NULL,
    version         BIGINT NOT NULL,
    state           TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    steps           TEXT NOT NULL,
    change_note     TEXT,
    author_id       TEXT NOT NULL,
    last_editor_id  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    effective_at    BIGINT,
    superseded_at   BIGINT,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX protocol_versions_number ON protocol_versions (org_id, protocol_id, version);
-- One effective version per protocol, and at most one draft.
CREATE UNIQUE INDEX protocol_versions_one_effective ON protocol_versions (org_id, protocol_id)
    WHERE state = 'effective';
CREATE UNIQUE INDEX protocol_versions_one_draft ON protocol_versions (org_id, protocol_id)
    WHERE state = 'draft';

CREATE TABLE compliance_counters (
    org_id  TEXT NOT NULL REFERENCES orgs (id),
    kind    TEXT NOT NULL,
    last    BIGINT NOT NULL,
    PRIMARY KEY (org_id, kind)
);

CREATE TABLE compliance_records (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    id           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    code         TEXT NOT NULL,
    state        TEXT NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    owner_id     TEXT,
    due_at       BIGINT,
    root_cause   TEXT,
    actions      TEXT,
    opened_by    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    closed_at    BIGINT,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX compliance_records_code ON compliance_records (org_id, code);
CREATE INDEX compliance_records_state_due ON compliance_records (org_id, state, due_at);
CREATE INDEX compliance_records_created ON compliance_records (org_id, created_at);

-- Links from one record to another, by (type, id): samples and protocol versions now, batches
-- and workflow runs when they exist.
CREATE TABLE record_links (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    from_type    TEXT NOT NULL,
    from_id      TEXT NOT NULL,
    to_type      TEXT NOT NULL,
    to_id        TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, from_type, from_id, to_type, to_id)
);
CREATE INDEX record_links_to ON record_links (org_id, to_type, to_id);

CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
BEGIN
    SELECT RAISE(ABORT, 'signatures are append-only');
END;
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
BEGIN
    SELECT RAISE(ABORT, 'signatures are append-only');
END;
