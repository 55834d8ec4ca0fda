"""What was published, when, and who is running: the SQLite publish record, guards, run lock."""
