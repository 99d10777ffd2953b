-- Evidence vault (issue 5): org keys, encrypted objects, immutable file versions.

-- One key per org, wrapped by the instance's master key (AES-256-GCM, context org-key:<org>).
CREATE TABLE org_keys (
    org_id      TEXT PRIMARY KEY REFERENCES orgs (id),
    wrapped_key BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

-- One encrypted object per distinct content of an org. content_key = HMAC(org key, sha256),
-- so equal content is stored once per org and cannot be probed from elsewhere.
CREATE TABLE file_objects (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    content_key  TEXT NOT NULL,
    path         TEXT NOT NULL,
    wrapped_key  BYTEA NOT NULL,
    segment_size BIGINT NOT NULL,
    sha256       BYTEA NOT NULL,
    size         BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, content_key)
);
CREATE UNIQUE INDEX file_objects_org_path ON file_objects (org_id, path);

-- Immutable file versions: a new upload under a name is its next version.
CREATE TABLE files (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    id           TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    name         TEXT NOT NULL,
    version      BIGINT NOT NULL,
    content_key  TEXT NOT NULL,
    sha256       BYTEA NOT NULL,
    size         BIGINT NOT NULL,
    media_type   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    created_by   TEXT,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX files_org_seq ON files (org_id, seq);
CREATE UNIQUE INDEX files_org_name_version ON files (org_id, name, version);
CREATE INDEX files_org_content ON files (org_id, content_key);
