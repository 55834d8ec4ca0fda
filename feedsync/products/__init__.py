"""The canonical product record (product.py) and how a master row becomes one (parse.py),
with the number and date parsing it needs."""
