"""``python -m clustomer`` runs the command line."""

from clustomer.cli import app

app(prog_name="clustomer")
