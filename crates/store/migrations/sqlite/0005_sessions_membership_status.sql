-- Sessions get a public id (so a user can list and revoke them without seeing token hashes);
-- memberships get a status (a deactivated member keeps their history but reaches nothing).
ALTER TABLE sessions ADD COLUMN id TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_user_id ON sessions (user_id, id);
ALTER TABLE members ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated'));
