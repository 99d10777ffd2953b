-- API tokens and just-in-time privileged access (SQLite). Keep in step with ../postgres.

-- A token belongs to one org and one creator; only its SHA-256 is stored. Its effective
-- permissions are `permissions` intersected with the creator's current ones in the org.
CREATE TABLE api_tokens (
    org_id        TEXT NOT NULL REFERENCES orgs (id),
    id            TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    token_hash    BLOB NOT NULL,
    permissions   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_user ON api_tokens (org_id, user_id);

-- A request for a built-in role for a bounded time: by a member (kind 'member') or, for support,
-- by an operator on behalf of a user account that is not a member (kind 'support'). Approved, it
-- is a grant from starts_at until expires_at; the scope of the user unions it while it lasts.
CREATE TABLE access_requests (
    org_id            TEXT NOT NULL REFERENCES orgs (id),
    id                TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('member', 'support')),
    user_id           TEXT NOT NULL REFERENCES users (id),
    role_name         TEXT NOT NULL,
    reason            TEXT NOT NULL,
    duration_minutes  BIGINT NOT NULL CHECK (duration_minutes BETWEEN 1 AND 480),
    status            TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'revoked')),
    requested_by      TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    decided_by        TEXT,
    decided_at        BIGINT,
    starts_at         BIGINT,
    expires_at        BIGINT,
    revoked_by        TEXT,
    revoked_at        BIGINT,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX access_requests_grant ON access_requests (org_id, user_id, status, expires_at);
