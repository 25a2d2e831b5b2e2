"""The run store: one SQLite database per run folder, append-only facts plus the LLM cache."""
