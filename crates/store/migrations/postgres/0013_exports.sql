-- Exports and reports (issue 5): the org's Ed25519 export signing key and files filed under a project.

-- One signing key per org: the public key, and the 32-byte secret seed wrapped by the org key
-- (AES-256-GCM, context export-signing-key:<org>).
CREATE TABLE export_keys (
    org_id         TEXT PRIMARY KEY REFERENCES orgs (id),
    public_key     BYTEA NOT NULL,
    wrapped_secret BYTEA NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Evidence files filed under a project (a file may be filed under several).
CREATE TABLE project_files (
    org_id      TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    file_id     TEXT NOT NULL,
    added_at    BIGINT NOT NULL,
    added_by    TEXT,
    PRIMARY KEY (org_id, project_id, file_id),
    FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id),
    FOREIGN KEY (org_id, file_id) REFERENCES files (org_id, id)
);
CREATE INDEX project_files_file ON project_files (org_id, file_id);
