"""Building blocks of the ingest step: references files, local file discovery, tar shards, readiness."""
