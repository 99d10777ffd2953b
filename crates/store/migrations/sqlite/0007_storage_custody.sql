-- Storage and chain of custody (issue 4). A location tree per org (site > room > freezer > rack >
-- box); boxes have a grid. A sample sits in at most one position and a position holds at most one
-- sample (both enforced by keys). Custody events are append-only, numbered per sample.
CREATE TABLE storage_locations (
    org_id        TEXT NOT NULL REFERENCES orgs (id),
    id            TEXT NOT NULL,
    parent_id     TEXT,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    grid_rows     BIGINT,
    grid_columns  BIGINT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, parent_id) REFERENCES storage_locations (org_id, id)
);
CREATE INDEX storage_locations_org_parent ON storage_locations (org_id, parent_id);

CREATE TABLE sample_positions (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    sample_id    TEXT NOT NULL,
    location_id  TEXT NOT NULL,
    position     TEXT NOT NULL,
    placed_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, sample_id),
    FOREIGN KEY (org_id, sample_id) REFERENCES samples (org_id, id),
    FOREIGN KEY (org_id, location_id) REFERENCES storage_locations (org_id, id)
);
CREATE UNIQUE INDEX sample_positions_slot ON sample_positions (org_id, location_id, position);

CREATE TABLE custody_events (
    org_id        TEXT NOT NULL REFERENCES orgs (id),
    sample_id     TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    at            BIGINT NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT,
    actor_name    TEXT NOT NULL,
    custodian_id  TEXT,
    from_value    TEXT,
    to_value      TEXT,
    reason        TEXT,
    PRIMARY KEY (org_id, sample_id, seq),
    FOREIGN KEY (org_id, sample_id) REFERENCES samples (org_id, id)
);
CREATE TRIGGER custody_events_no_update BEFORE UPDATE ON custody_events
BEGIN
    SELECT RAISE(ABORT, 'custody events are append-only');
END;
CREATE TRIGGER custody_events_no_delete BEFORE DELETE ON custody_events
BEGIN
    SELECT RAISE(ABORT, 'custody events are append-only');
END;

-- Aliquots and derivatives: a child sample names its parent and what was taken from it.
CREATE TABLE sample_lineage (
    org_id          TEXT NOT NULL REFERENCES orgs (id),
    child_id        TEXT NOT NULL,
    parent_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    quantity_taken  TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (org_id, child_id),
    FOREIGN KEY (org_id, child_id) REFERENCES samples (org_id, id),
    FOREIGN KEY (org_id, parent_id) REFERENCES samples (org_id, id)
);
CREATE INDEX sample_lineage_parent ON sample_lineage (org_id, parent_id);
