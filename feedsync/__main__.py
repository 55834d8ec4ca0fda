"""`python -m feedsync`: the same command line as the `feedsync` script."""

from feedsync.cli.app import main

main()
