"""feedsync: one product master, validated once, syndicated to every shopping channel."""

__version__ = "0.1.0"
