"""`python -m billing_sync.cli` runs the same command as the console script."""

from billing_sync.cli import main

main()
