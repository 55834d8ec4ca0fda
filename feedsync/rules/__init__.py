"""Per-channel rules: ordered, declarative transformations of the canonical product.

model.py (what a step looks like in feedsync.yaml) -> compile.py (checked and compiled once per
run) -> steps.py (applied per product, never mutating the shared product) -> explain.py (why a
value came out as it did).
"""
