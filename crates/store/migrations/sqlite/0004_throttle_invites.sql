-- Throttling of password guesses, last login, invitations and password resets (sqlite).
-- Keep in step with the other engine's file of the same name: the parity test compares them.

ALTER TABLE users ADD COLUMN last_login_at BIGINT;

-- Failure counters per key (`login:acct:<email>`, `login:ip:<address>`, `reset:…`): in the
-- database, so every node sharing it agrees.
CREATE TABLE auth_throttle (
    key              TEXT PRIMARY KEY,
    failures         BIGINT NOT NULL,
    last_failure_at  BIGINT NOT NULL,
    locked_until     BIGINT
);

-- An invitation to join an org, by email: only the SHA-256 of its token is kept.
CREATE TABLE invitations (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    id           TEXT NOT NULL,
    email        TEXT NOT NULL,
    roles        TEXT NOT NULL,
    token_hash   BLOB NOT NULL,
    invited_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    accepted_by  TEXT,
    revoked_at   BIGINT,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX invitations_token ON invitations (token_hash);
CREATE INDEX invitations_email ON invitations (org_id, email);

-- A password reset: single use, expiring, only the SHA-256 of its token is kept.
CREATE TABLE password_resets (
    token_hash  BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX password_resets_user ON password_resets (user_id);
