"""What the CLI prints: Rich tables for imports, segments, assignments and comparisons.

Plain functions over plain data (summaries, ``to_dict()`` output); nothing here computes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from clustomer.errors import mask_emails


class RichStages:
    """Shows each stage of long work as a progress line with a spinner and its time."""

    def __init__(self, console: Console, total: int) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            # bars are for a person at a terminal; a pipe or a log gets none
            disable=not console.is_terminal,
        )
        self.overall = self.progress.add_task("clustomer", total=total)
        self.tasks: dict[str, Any] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        task = self.progress.add_task(name, total=1)
        self.tasks[name] = task
        yield
        self.progress.update(task, completed=1)
        self.progress.advance(self.overall)

    def update(self, name: str, fraction: float) -> None:
        """Fill the bar of the running stage ``name`` to ``fraction`` (0 to 1)."""
        task = self.tasks.get(name)
        if task is not None:
            self.progress.update(task, completed=max(0.0, min(fraction, 1.0)))

    def __enter__(self) -> RichStages:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


#: Standard output (results); progress and errors go to standard error.
OUT = Console(highlight=False, soft_wrap=True)
out = OUT


def _money(v: float) -> str:
    return f"{v:,.2f}"


def _import_table(s: Any) -> Table:
    t = Table(title=f"Import of {escape(s.file)} ({s.layout})", title_justify="left")
    t.add_column("rows")
    t.add_column("count", justify="right")
    t.add_column("revenue", justify="right")
    t.add_row("read", f"{s.rows_read:,}", _money(s.revenue))
    t.add_row("[green]kept[/]", f"{s.rows_kept:,}", _money(s.revenue_kept))
    for reason, n in s.rows_dropped.items():
        rev = s.revenue_dropped.get(reason)
        t.add_row(f"[yellow]dropped: {reason}[/]", f"{n:,}", _money(rev) if rev is not None else "")
    if s.extra_lines:
        t.add_row("refund lines added", f"{s.extra_lines:,}", "")
    check = "[green]✓ read = kept + dropped[/]" if s.balanced else "[red]✗ does not add up[/]"
    t.caption = (
        f"{check} · {s.customers:,} customers in the file · {s.orders:,} orders kept · "
        f"{s.cancellation_lines:,} cancellation lines · currency {s.currency or '—'}"
        + (
            f" · orders {s.first_order[:10]} to {s.last_order[:10]}"
            if s.first_order and s.last_order
            else ""
        )
    )
    return t


def print_import(s: Any) -> None:
    if s.already_imported:
        out.print(
            f"[bold]{escape(s.file)}[/] was already imported (import {s.import_id}, "
            f"{s.imported_at[:19]}); nothing was added."
        )
    out.print(_import_table(s))
    for r in s.rejects[:10]:
        # a rejected cell may hold an e-mail address: never printed raw
        value = f'"{mask_emails(str(r["value"]))}": ' if r.get("value") is not None else ""
        where = f"line {r['line']}" + (f", column {r['column']}" if r.get("column") else "")
        out.print(escape(f"  {where}: {value}{mask_emails(str(r['message']))}"))
    if len(s.rejects) > 10:
        out.print(f"  … and {len(s.rejects) - 10} more (clustomer quality {s.import_id})")


def print_segments(summary: dict[str, Any]) -> None:
    segmented = summary["customers_segmented"]
    asides = []
    if summary.get("unassigned"):
        asides.append(f"{summary['unassigned']:,} unassigned")
    if summary.get("returns_only"):
        asides.append(f"{summary['returns_only']:,} with returns only")
    aside = "".join(f"; {a}" for a in asides)
    t = Table(
        title=f"{segmented:,} customers in {summary['k']} segments "
        f"(as of {summary['as_of']}{aside})",
        title_justify="left",
    )
    for col, just in (
        ("id", "right"),
        ("segment", "left"),
        ("customers", "right"),
        ("% customers", "right"),
        ("% revenue", "right"),
        ("stability", "right"),
        ("in words", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for s in summary["segments"]:
        stab = s.get("stability")
        shown = "–" if stab is None or math.isnan(stab) else f"{stab:.2f}"
        if s.get("unstable"):
            shown = f"[yellow]{shown} (unstable)[/]"
        t.add_row(
            str(s["id"]),
            escape(s["name"]),
            f"{s['size']:,}",
            f"{100 * s['share_customers']:.1f}",
            f"{100 * s['share_revenue']:.1f}",
            shown,
            s["description"],
        )
    notes = [f"{summary.get('method', 'kmeans')}: {summary['k_reason']}"]
    if (summary.get("confidence") or {}).get("reason"):
        notes.append(summary["confidence"]["reason"])
    feats = summary.get("features") or {}
    notes += feats.get("messages", [])
    if summary.get("fidelity") is not None:
        notes.append(
            f"rules (clustomer rules) place {100 * summary['fidelity']:.0f}% of customers "
            "in the same segment as the clustering"
        )
    if summary.get("cv_accuracy") is not None:
        notes.append(
            f"a classifier tells the segments apart from the features with "
            f"{100 * summary['cv_accuracy']:.0f}% cross-validated accuracy"
        )
    t.caption = escape("\n".join(notes))
    out.print(t)


def print_assign(data: dict[str, Any]) -> None:
    """The outcome of ``clustomer assign`` (see ``AssignOutcome.to_dict``)."""
    t = Table(
        title=f"{data['customers']:,} customers in the segments of run {data['run_id']} "
        f"(as of {data['as_of']})",
        title_justify="left",
    )
    t.add_column("segment")
    t.add_column("customers", justify="right")
    for name, n in data["segments"].items():
        t.add_row(escape(name), f"{n:,}")
    t.caption = (
        f"{data['new']:,} new since the run · {data['moved']:,} moved to another segment · "
        f"{data['unchanged']:,} unchanged"
    )
    out.print(t)


def print_comparison(data: dict[str, Any]) -> None:
    """A transition matrix (``RunComparison.to_dict``) and its plain summary."""
    m = data["matrix"]
    t = Table(title=f"From {data['before_name']} (rows) to {data['after_name']} (columns)")
    t.add_column("")
    for col in m["columns"]:
        t.add_column(escape(str(col)), justify="right")
    for row, values in zip(m["rows"], m["counts"], strict=True):
        t.add_row(escape(str(row)), *(f"{v:,}" for v in values))
    out.print(t)
    out.print(escape(data["summary"]))


def print_backtest(data: dict[str, Any]) -> None:
    """The backtest table (``BacktestResult.to_dict``), the best model and the notes."""
    t = Table(
        title=f"Backtest: {data['n_customers']:,} customers, cutoff {str(data['cutoff'])[:10]}, "
        f"{data['horizon']} days held out ({100 * data['share_active']:.0f}% bought in them)",
        title_justify="left",
    )
    cols = [
        ("orders MAE", "orders_mae"),
        ("revenue Spearman", "revenue_spearman"),
        ("top-decile capture", "top_decile_capture"),
        ("AUC(active)", "auc_active"),
        ("fit s", "fit_seconds"),
    ]
    t.add_column("model")
    for label, _ in cols:
        t.add_column(label, justify="right")
    for model, row in data["models"].items():
        name = str(model) + (" (degenerate)" if row.get("degenerate") else "")
        if model == data["best_model"]:
            name = f"[bold]{name} ✓[/]"
        cells = []
        for _, key in cols:
            v = row.get(key)
            cells.append("–" if v is None else f"{v:.3f}" if key != "fit_seconds" else f"{v:.2f}")
        t.add_row(name, *cells)
    oracle = data.get("oracle_top_decile_capture")
    t.caption = escape(
        f"best: {data['best_model']} ({data.get('best_rule', '')})"
        + (f"; oracle top-decile capture {oracle:.3f}" if oracle is not None else "")
    )
    out.print(t)
    for note in data.get("notes", []):
        out.print(escape(f"  · {note}"))
