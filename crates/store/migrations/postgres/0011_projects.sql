-- Projects (issue: lab operations): named groups of lab records with their own member list.
-- A member marked project-limited sees only the records of the projects they belong to.
CREATE TABLE projects (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT,
    status       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX projects_org_name ON projects (org_id, name);

CREATE TABLE project_members (
    org_id      TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, project_id, user_id),
    FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES members (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX project_members_user ON project_members (org_id, user_id);

ALTER TABLE members ADD COLUMN project_limited BIGINT NOT NULL DEFAULT 0;
ALTER TABLE samples ADD COLUMN project_id TEXT;
CREATE INDEX samples_org_project ON samples (org_id, project_id, seq);
