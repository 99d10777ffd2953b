-- Custom sample fields defined per org (issue 4: samples and storage). A definition's type and
-- constraints are kept as canonical JSON (`spec`); a sample's values as canonical JSON on the
-- sample (`custom`) and, for searching by equality, one row per value as canonical text.
CREATE TABLE sample_fields (
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    field_key   TEXT NOT NULL,
    label       TEXT NOT NULL,
    spec        TEXT NOT NULL,
    required    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, field_key)
);

ALTER TABLE samples ADD COLUMN custom TEXT;

CREATE TABLE sample_custom_values (
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    sample_id   TEXT NOT NULL,
    field_key   TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (org_id, sample_id, field_key),
    FOREIGN KEY (org_id, sample_id) REFERENCES samples (org_id, id)
);
CREATE INDEX sample_custom_values_lookup ON sample_custom_values (org_id, field_key, value);
CREATE INDEX samples_org_collected ON samples (org_id, collected_at);
CREATE INDEX samples_org_received ON samples (org_id, received_at);
CREATE INDEX samples_org_created ON samples (org_id, created_at);
