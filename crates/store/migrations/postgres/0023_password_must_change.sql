-- Set when an operator resets a user's password (`labledger admin user reset-password`): the
-- one-time password they were given works for nothing but choosing a new one.
ALTER TABLE users ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;
