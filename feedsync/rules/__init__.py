"""Per-channel rules: ordered, declarative transformations of the canonical product.

model.py (what a step's parameters look like in feedsync.yaml) -> compile.py (checked and
compiled once per run) -> steps/ (one class per step, by family: how it compiles and how it is
applied per product, never mutating the shared product) -> explain.py (why a value came out as
it did). registry.py is the list of steps: dispatch, "did you mean" and the README's table.
"""
