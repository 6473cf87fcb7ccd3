"""Contract tests every store adapter must pass."""
