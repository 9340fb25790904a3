"""The ``wrenn-webhooks`` command line (click, which Flask already brings)."""

from __future__ import annotations

import click

from . import __version__

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wrenn-webhooks")
def cli() -> None:
    """Receive, send and inspect Wrenn webhooks."""


def main() -> None:
    """Run the command line."""
    cli()
