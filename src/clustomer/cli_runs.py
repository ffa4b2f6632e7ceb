"""The commands on stored runs: ``assign``, ``compare``, ``rules``, ``backtest``, ``runs``.

Each parses its options, calls one :class:`~clustomer.workspace.Workspace` method and
prints (or writes ``--json``), as every command of :mod:`clustomer.cli` does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from clustomer.cli_common import DEFAULT_WS, AsOfOpt, JsonOpt, RunOpt, WorkspaceOpt, out
from clustomer.cli_common import call as _call
from clustomer.cli_common import fail as _fail
from clustomer.cli_render import print_assign, print_backtest, print_comparison
from clustomer.cli_render import print_import as _print_import
from clustomer.errors import ClustomerError


def register(app: typer.Typer) -> None:
    """Add the run commands to ``app``."""
    for command in (assign, compare, rules, backtest, runs):
        app.command()(command)


def assign(
    file: Annotated[
        Path | None, typer.Argument(help="Export with new orders to import first (optional).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    run: RunOpt = None,
    as_of: AsOfOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Put new or updated customers into the segments of a stored run, without refitting."""
    from clustomer.workspace import Workspace

    def work() -> Any:
        with Workspace(workspace, create=False) as ws:
            return ws.assign(file, run_id=run, as_of=as_of)

    outcome = _call(work, workspace if file is not None else None)
    data = outcome.to_dict()
    if json_:
        typer.echo(json.dumps(data, default=str))
        return
    if outcome.imported is not None:
        _print_import(outcome.imported)
    print_assign(data)


def compare(
    run_a: Annotated[int, typer.Argument(help="The earlier run.")],
    run_b: Annotated[int | None, typer.Argument(help="The later run (default: latest).")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_: JsonOpt = False,
) -> None:
    """Show who moved between the segments of two runs (a transition matrix)."""
    from clustomer.workspace import Workspace

    def work() -> Any:
        with Workspace(workspace, create=False) as ws:
            return ws.compare(run_a, run_b)

    data = _call(work).to_dict()
    if json_:
        typer.echo(json.dumps(data, default=str))
        return
    print_comparison(data)


def rules(
    workspace: WorkspaceOpt = DEFAULT_WS,
    run: RunOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Print a run's segments as plain rules, ready to paste into a shop's segment editor."""
    from clustomer.workspace import Workspace

    def work() -> Any:
        with Workspace(workspace, create=False) as ws:
            return ws.run_details(run)

    data = _call(work)
    details = data.get("details") or {}
    if json_:
        typer.echo(json.dumps({"run_id": data["run_id"], **details.get("rules", {})}, default=str))
        return
    text = details.get("rules_text")
    if not text:
        _fail(ClustomerError(f"run {data['run_id']} has no rules (one segment, or an old run)"))
    typer.echo(text)


def backtest(
    workspace: WorkspaceOpt = DEFAULT_WS,
    horizon: Annotated[
        int, typer.Option("--horizon", min=7, max=730, help="Holdout length in days.")
    ] = 91,
    recommend: Annotated[
        bool,
        typer.Option("--recommend", help="Backtest the product recommendations instead."),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Backtest the customer-value models (or the recommendations) on your own history."""
    from clustomer.workspace import Workspace

    def work() -> Any:
        with Workspace(workspace, create=False) as ws:
            if recommend:
                return ws.recommend_backtest(horizon)
            return ws.backtest(horizon).to_dict()

    data = _call(work)
    if json_:
        typer.echo(json.dumps(data, default=str))
        return
    if recommend:
        from clustomer.cli_render_marketing import print_recommend_backtest

        print_recommend_backtest(data)
        return
    print_backtest(data)


def runs(workspace: WorkspaceOpt = DEFAULT_WS, json_: JsonOpt = False) -> None:
    """List the segmentation runs stored in the workspace."""
    from clustomer.workspace import Workspace

    def work() -> Any:
        with Workspace(workspace, create=False) as ws:
            return ws.runs()

    df = _call(work)
    if json_:
        typer.echo(df.to_json(orient="records", date_format="iso"))
        return
    t = Table(title=f"Runs in {workspace}", title_justify="left")
    for col in ("run", "created", "as of", "k", "customers", "why this k"):
        t.add_column(col)
    for r in df.itertuples(index=False):
        t.add_row(
            str(r.run_id),
            str(r.created_at)[:19],
            str(r.as_of)[:10],
            str(r.k),
            f"{r.n_customers:,}",
            str(r.reason),
        )
    out.print(t)
