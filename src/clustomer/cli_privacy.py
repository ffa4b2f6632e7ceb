"""The privacy commands: ``clustomer forget``.

Thin like the rest of the CLI: parse, call :func:`clustomer.privacy.forget`, print. An
address is never printed in full (``a***@example.com``). :func:`register` adds the
commands to the main Typer app in ``cli.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clustomer.cli_common import DEFAULT_WS, JsonOpt, WorkspaceOpt, call, err, out

KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="The pseudonym key file (default: ~/.config/clustomer/pseudonym.key).",
        envvar="CLUSTOMER_KEY_FILE",
    ),
]


def forget(
    who: Annotated[str, typer.Argument(help="The person's e-mail address or customer key.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Also remove them from this folder's segments.csv."),
    ] = None,
    key_file: KeyFileOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Erase one person everywhere in the workspace, and keep them out of later imports."""
    from clustomer.privacy.forget import mask_who

    shown = mask_who(who)
    if not yes:
        typer.confirm(
            f"Erase {shown} from {workspace} (order lines, customer and contact rows, "
            "segments, values, audiences, campaign results)? This cannot be undone",
            abort=True,
            err=True,
        )

    def work() -> Any:
        from clustomer.privacy.forget import forget as forget_person
        from clustomer.store.db import Store

        store = Store(workspace, create=False)
        try:
            return forget_person(store, who, key_file=key_file, out_dir=out_dir)
        finally:
            store.close()

    data = call(work).to_dict()
    if json_:
        typer.echo(json.dumps(data))
        return
    print_forget(data)


def print_forget(data: dict[str, Any]) -> None:
    """The rows erased per table, the outputs, and what is left to the user."""
    who = escape(str(data["who"]))
    if data["customers"]:
        out.print(f"Erased {who}: {data['customers']} customer key(s), {data['rows']:,} rows.")
    else:
        out.print(f"{who} is not in this workspace; later imports will drop them.")
    table = Table("table", "rows deleted", box=None)
    for name, rows in data["deleted"].items():
        table.add_row(name, f"{rows:,}")
    for name, what in data["outputs"].items():
        table.add_row(f"out/{name}", f"{what:,}" if isinstance(what, int) else str(what))
    if data["rows"] or data["outputs"]:
        out.print(table)
    out.print(
        f"Workspace rewritten in {data['rewrite_seconds']:.2f} s, so no deleted byte remains."
    )
    for name in data["files_to_check"]:
        err.print(f"[yellow]check:[/] {escape(name)} may still hold them (an export or output)")
    if data["traces"]:
        where = ", ".join(f"{k} ({v})" for k, v in data["traces"].items())
        err.print(f"[yellow]warning:[/] still mentioned in {escape(where)}")


def register(app: typer.Typer) -> None:
    """Add the privacy commands to the main app."""
    app.command()(forget)
