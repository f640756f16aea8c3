"""Use cases that tie the packages together (the CLI, API and demo call these)."""
