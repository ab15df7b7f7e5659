"""The job step: judging a job's state (pure) and fetching what that judgement needs (sync and async)."""
