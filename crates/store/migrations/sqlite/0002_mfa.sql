-- MFA (TOTP + recovery codes), step-up re-authentication, and the org setting "requires MFA" (SQLite).
-- Keep in step with ../postgres: the parity test compares them.

-- When the session's owner last entered their password (login or step-up), in microseconds.
ALTER TABLE sessions ADD COLUMN reauth_at BIGINT NOT NULL DEFAULT 0;

-- Members of an org that requires MFA reach only the enrolment page until they enrol (0/1).
ALTER TABLE orgs ADD COLUMN require_mfa BIGINT NOT NULL DEFAULT 0;

-- A user's TOTP authenticator: instance-level (a user has one, whatever their orgs).
-- secret_enc = AES-256-GCM(master key, nonce ‖ ciphertext), the user id as associated data.
CREATE TABLE user_totp (
    user_id       TEXT PRIMARY KEY REFERENCES users (id),
    secret_enc    BLOB NOT NULL,
    active        BIGINT NOT NULL DEFAULT 0,
    -- The last accepted 30-second time step: a code of this step or an earlier one is refused.
    last_step     BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    confirmed_at  BIGINT
);

-- Single-use recovery codes, stored as their SHA-256.
CREATE TABLE user_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id),
    code_hash  BLOB NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
