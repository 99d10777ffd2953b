-- Background jobs that must run once across all nodes (scheduled backups, the orphan sweep,
-- session purge): a node runs a job only while it holds the job's lease, and only when the job
-- is due. Bookkeeping of the instance, not data: no audit event, no org.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    -- The node holding the lease (a random id per process), empty when free.
    holder TEXT NOT NULL,
    -- Microseconds since the epoch; a lease past this is free (its node died mid-run).
    expires_at BIGINT NOT NULL,
    -- When the job last finished (microseconds), and how.
    last_run_at BIGINT NOT NULL DEFAULT 0,
    last_outcome TEXT NOT NULL DEFAULT '',
    runs BIGINT NOT NULL DEFAULT 0
);
