-- Filter combinations of the sample list answered straight from an index, newest first, instead
-- of walking one filter's index past every row the other filter rejects (status + type was
-- 400 ms at 1,000,000 samples when the newest rows were all of another type).
CREATE INDEX samples_org_status_type ON samples (org_id, status, sample_type, seq);
CREATE INDEX samples_org_project_status ON samples (org_id, project_id, status, seq);
