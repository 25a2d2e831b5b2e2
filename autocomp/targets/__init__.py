"""Hardware targets. Each is a folder (knowledge pack, problems, evaluator) plus one entry point."""
