"""The command line: a thin layer over feedsync.api (app.py), its options and its output."""
