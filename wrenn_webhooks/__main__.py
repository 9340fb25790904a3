"""``python -m wrenn_webhooks``: the command-line interface."""

from .cli import main

main()
