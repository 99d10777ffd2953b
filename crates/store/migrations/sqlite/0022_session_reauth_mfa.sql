-- Whether a session's last password entry (login or step-up) came with a verified second
-- factor: a password-only entry from before the user enrolled MFA is no step-up afterwards.
ALTER TABLE sessions ADD COLUMN reauth_mfa BIGINT NOT NULL DEFAULT 0;
