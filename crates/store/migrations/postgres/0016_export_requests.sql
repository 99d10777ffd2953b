-- Export requests (issue 5): an export of a whole org, or of a project over the configured size,
-- waits for a second Owner/Admin. state: pending | approved | rejected (expired is derived from
-- expires_at: 24 h after the request while pending, 24 h after the approval once approved).
CREATE TABLE export_requests (
    org_id          TEXT NOT NULL REFERENCES orgs (id),
    id              TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('project', 'org')),
    project_id      TEXT,
    estimated_bytes BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    requested_by    TEXT NOT NULL REFERENCES users (id),
    requested_at    BIGINT NOT NULL,
    decided_by      TEXT REFERENCES users (id),
    decided_at      BIGINT,
    reason          TEXT,
    expires_at      BIGINT NOT NULL,
    downloads       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id)
);
CREATE INDEX export_requests_state ON export_requests (org_id, state, requested_at);
