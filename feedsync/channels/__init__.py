"""Channels as data: spec files (spec.py, loader.py), per-market feeds (markets.py), item
rendering and checks (render.py), and declared JSON item shapes (shape.py)."""
