"""Step 1-2, ingest and validate: the public contract (schemas/), validation and dead letters."""
