-- Orphan sweep (issue 5): `labledger vault sweep` asks, for each object in the store, whether
-- any org's record refers to its path.
CREATE INDEX file_objects_path ON file_objects (path);
