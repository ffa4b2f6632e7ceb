"""The identity commands: ``clustomer customers`` and ``clustomer unlink``.

Thin like the rest of the CLI: parse, call the :class:`~clustomer.workspace.Workspace`,
print. In the table, a key that is an e-mail address is masked (``a***@example.com``);
``--json`` gives the keys as stored. :func:`register` adds the commands to the main app.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clustomer.cli_common import DEFAULT_WS, JsonOpt, WorkspaceOpt, call, out


def _shown(key: str) -> str:
    from clustomer.privacy.forget import mask_who

    return mask_who(key) if "@" in key else key


def customers(
    workspace: WorkspaceOpt = DEFAULT_WS,
    merged: Annotated[
        bool, typer.Option("--merged", help="Only customers linked from several sources.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show (table only).")] = 50,
    json_: JsonOpt = False,
) -> None:
    """List the unified customers: their source keys, what linked them, orders, revenue."""

    def work() -> Any:
        from clustomer.workspace import Workspace

        with Workspace(workspace, create=False) as ws:
            return ws.identities(merged_only=merged)

    frame = call(work)
    if json_:
        typer.echo(frame.to_json(orient="records", date_format="iso"))
        return
    table = Table("customer", "sources", "linked by", "orders", "revenue", box=None)
    for row in frame.head(limit).itertuples(index=False):
        links = [escape(_shown(str(s))) for s in row.source_keys[1:]]
        table.add_row(
            escape(_shown(str(row.customer_key))),
            ", ".join(links) or "-",
            ", ".join(str(r) for r in row.linked_by) or "-",
            f"{int(row.orders):,}",
            f"{float(row.revenue):,.2f}",
        )
    out.print(table)
    linked = int((frame["source_keys"].map(len) > 1).sum())
    out.print(f"{len(frame):,} customer(s), {linked:,} linked from several sources.")


def unlink(
    source_key: Annotated[str, typer.Argument(help="The key as imported, to stand alone.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_: JsonOpt = False,
) -> None:
    """Undo a link: SOURCE_KEY gets its own order lines back and is never linked again."""

    def work() -> Any:
        from clustomer.workspace import Workspace

        with Workspace(workspace, create=False) as ws:
            return ws.unlink(source_key)

    data = call(work)
    if json_:
        typer.echo(json.dumps(data))
        return
    out.print(
        f"Unlinked {escape(_shown(data['source_key']))} from "
        f"{escape(_shown(data['customer_key']))}; it stands alone from now on."
    )


def register(app: typer.Typer) -> None:
    """Add the identity commands to the main app."""
    app.command()(customers)
    app.command()(unlink)
