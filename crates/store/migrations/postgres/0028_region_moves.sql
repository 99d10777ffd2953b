-- The phase of an org's region move (`orgs.region_move_to`): '' none, 'requested' (an operator
-- asked, waiting for an Owner), 'approved' (the Owner agreed, waiting for the operator to run
-- it: `admin org move --complete`), 'copying' (its objects are being copied into the new
-- region's object store; the org's writes are paused until the region switches).
ALTER TABLE orgs ADD COLUMN region_move_phase TEXT NOT NULL DEFAULT '';
UPDATE orgs SET region_move_phase = 'requested' WHERE region_move_to <> '';
