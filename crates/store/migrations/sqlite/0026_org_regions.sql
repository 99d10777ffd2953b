-- Region pinning. `region`: where the org's data lives ('' = not pinned: every node serves it);
-- a node started with `--region R` serves only orgs of R (and unpinned ones).
-- `region_move_to`: a move an operator asked for (`admin org move`), waiting for an Owner of
-- the org to approve it ('' = none pending).
ALTER TABLE orgs ADD COLUMN region TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN region_move_to TEXT NOT NULL DEFAULT '';
