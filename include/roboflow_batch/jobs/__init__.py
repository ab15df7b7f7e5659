"""The job step: judging a job's state and an interval's jobs (pure) and fetching what that needs."""
