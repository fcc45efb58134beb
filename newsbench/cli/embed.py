"""`newsbench embed ...` commands (being written)."""

import typer

app = typer.Typer(help="embed commands", no_args_is_help=True)
