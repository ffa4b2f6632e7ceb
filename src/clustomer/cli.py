"""The ``clustomer`` command line: one small function per command, each calling the core.

Commands parse their options, call one core function, and print. A
:class:`~clustomer.errors.ClustomerError` becomes a one-line message on stderr and the
error's exit code; progress goes to stderr so that ``--json`` output stays clean.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from clustomer import __version__
from clustomer.cli_common import (
    DEFAULT_WS,
    AsOfOpt,
    CurrencyOpt,
    DateFormatOpt,
    JsonOpt,
    LayoutOpt,
    MapOpt,
    PlaybookOpt,
    WorkspaceOpt,
    err,
    out,
)
from clustomer.cli_common import call as _call
from clustomer.cli_common import fail as _fail
from clustomer.cli_identity import register as register_identity
from clustomer.cli_marketing import register as register_marketing
from clustomer.cli_privacy import register as register_privacy
from clustomer.cli_render import (
    RichStages,
)
from clustomer.cli_render import print_import as _print_import
from clustomer.cli_render import print_segments as _print_segments
from clustomer.cli_runs import register as register_runs
from clustomer.cli_web import register as register_web
from clustomer.errors import ClustomerError, InputError, mask_emails

app = typer.Typer(
    help="clustomer: customer segments from your shop's order exports, on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _parse_map(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            _fail(InputError(f"--map expects FIELD=COLUMN, got {item!r}"))
        mapping[field.strip()] = column.strip()
    return mapping


# -- commands -----------------------------------------------------------------------------


NoPiiOpt = Annotated[
    bool,
    typer.Option(
        "--no-pii", help="Store pseudonyms only: no e-mail address, phone number or name."
    ),
]
MemOpt = Annotated[
    str | None, typer.Option("--memory-limit", help="Cap DuckDB's memory, e.g. 1GB.")
]


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or .xlsx export.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    layout: LayoutOpt = None,
    map_: MapOpt = None,
    currency: CurrencyOpt = None,
    as_of: AsOfOpt = None,
    date_format: Annotated[
        str | None,
        typer.Option(
            "--date-format",
            help="strptime format of the order dates, e.g. %d/%m/%Y; needed only when no date "
            "in the whole column tells day-first from month-first.",
        ),
    ] = None,
    memory_limit: MemOpt = None,
    no_pii: NoPiiOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Import an order export into the workspace; every row is accounted for."""
    from clustomer.workspace import Workspace

    mapping = _parse_map(map_)

    def work(progress: Any = None) -> Any:
        with Workspace(workspace, memory_limit=memory_limit) as ws:
            return ws.import_file(
                file,
                layout,
                mapping,
                currency=currency,
                as_of=as_of,
                date_format=date_format,
                progress=progress,
                no_pii=no_pii,
            )

    if json_:
        d = _call(work, workspace).to_dict()
        d["rejects"] = [
            {k: mask_emails(v) if isinstance(v, str) else v for k, v in r.items()}
            for r in d["rejects"][:20]
        ]
        typer.echo(json.dumps(d, default=str))
        return
    with RichStages(err, 2) as stages:  # a bar for the read: DuckDB's progress
        s = _call(lambda: work(stages), workspace)
    _print_import(s)


@app.command()
def quality(
    import_id: Annotated[
        int | None, typer.Argument(help="Import id (default: the latest).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_: JsonOpt = False,
) -> None:
    """Show the row accounting of a past import."""
    from clustomer.workspace import Workspace

    def work() -> Any:
        with Workspace(workspace, create=False) as ws:
            return ws.quality(import_id)

    s = _call(work)
    if json_:
        typer.echo(json.dumps(s.to_dict(), default=str))
    else:
        _print_import(s)


def _segment(
    file: Path | None,
    *,
    workspace: Path,
    out_dir: Path,
    k: int | None,
    as_of: datetime | None,
    layout: str | None,
    mapping: dict[str, str],
    currency: str | None,
    date_format: str | None,
    sample_size: int,
    seed: int,
    memory_limit: str | None,
    json_: bool,
    method: str = "kmeans",
    features: str | None = None,
    playbook: Path | None = None,
    no_pii: bool = False,
) -> None:
    from clustomer.pipeline import run_segment

    stages = 8 if file is not None else 5  # the import shows its read and commit too
    with RichStages(err, stages) as progress:
        outcome = _call(
            lambda: run_segment(
                file,
                workspace=workspace,
                out_dir=out_dir,
                k=k,
                as_of=as_of,
                layout=layout,
                mapping=mapping,
                currency=currency,
                date_format=date_format,
                sample_size=sample_size,
                random_state=seed,
                memory_limit=memory_limit,
                progress=progress,
                method=method,
                features=features,
                playbook=playbook,
                no_pii=no_pii,
            ),
            workspace if file is not None else None,
        )
    data = outcome.to_dict()
    if json_:
        typer.echo(json.dumps(data, default=str))
        return
    if outcome.imported is not None:
        _print_import(outcome.imported)
    _print_segments(data)
    out.print(
        f"Wrote [bold]{escape(str(outcome.csv_path))}[/] and "
        f"[bold]{escape(str(outcome.report_path))}[/]"
    )


KOpt = Annotated[
    int | None, typer.Option("--k", min=2, max=50, help="Force the number of segments.")
]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for segments.csv and report.html.")]
SampleOpt = Annotated[
    int, typer.Option("--sample-size", min=100, help="Customers sampled to choose k.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same segments).")]
MethodOpt = Annotated[
    str,
    typer.Option(
        "--method",
        help="kmeans, minibatch, ward, gmm, hdbscan, dbscan or kprototypes.",
    ),
]
FeaturesOpt = Annotated[
    str | None,
    typer.Option(
        "--features",
        help="Feature groups, comma-separated: rfm, behaviour, products, demographics "
        "(default rfm,behaviour).",
    ),
]

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="duckdb (this machine, the workspace) or spark (a Spark cluster or local "
        "Spark; needs pip install 'clustomer\\[spark]' and Java 17; FILE is then any path "
        "Spark reads).",
    ),
]
MasterOpt = Annotated[
    str | None,
    typer.Option("--master", help="With --engine spark: local[2], spark://HOST:7077, yarn, ..."),
]


def _segment_spark(file: str | None, *, engine: str, master: str | None, **opts: Any) -> None:
    if engine != "spark":
        _fail(ClustomerError(f"--engine must be duckdb or spark; got {engine!r}"))
    if file is None:
        _fail(ClustomerError("--engine spark reads the orders from FILE; give one"))
    from clustomer.spark import run_segment_spark

    json_ = opts.pop("json_")
    opts["random_state"] = opts.pop("seed")
    with RichStages(err, 6) as progress:
        outcome = _call(lambda: run_segment_spark(file, master=master, progress=progress, **opts))
    data = outcome.to_dict()
    if json_:
        typer.echo(json.dumps(data, default=str))
        return
    _print_segments(data)
    out.print("Wrote " + ", ".join(f"[bold]{escape(p)}[/]" for p in data["outputs"].values()))


@app.command()
def segment(
    file: Annotated[
        str | None,
        typer.Argument(
            help="Export to import first (optional); with --engine spark, the source: any "
            "path Spark reads (hdfs://, s3a://, a folder of Parquet files).",
            show_default=False,
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    out_dir: OutOpt = Path("out"),
    k: KOpt = None,
    as_of: AsOfOpt = None,
    layout: LayoutOpt = None,
    map_: MapOpt = None,
    currency: CurrencyOpt = None,
    date_format: DateFormatOpt = None,
    sample_size: SampleOpt = 10_000,
    seed: SeedOpt = 0,
    memory_limit: MemOpt = None,
    no_pii: NoPiiOpt = False,
    method: MethodOpt = "kmeans",
    features: FeaturesOpt = None,
    playbook: PlaybookOpt = None,
    engine: EngineOpt = "duckdb",
    master: MasterOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Segment the customers (importing FILE first, if given); write the CSV and report."""
    if master is not None and engine == "duckdb":
        _fail(ClustomerError("--master is for --engine spark"))
    if engine != "duckdb":
        _segment_spark(
            file,
            engine=engine,
            master=master,
            out_dir=out_dir,
            k=k,
            as_of=as_of,
            layout=layout,
            mapping=_parse_map(map_),
            currency=currency,
            date_format=date_format,
            sample_size=sample_size,
            seed=seed,
            method=method,
            features=features,
            playbook=playbook,
            json_=json_,
        )
        return
    _segment(
        None if file is None else Path(file),
        workspace=workspace,
        out_dir=out_dir,
        k=k,
        as_of=as_of,
        layout=layout,
        mapping=_parse_map(map_),
        currency=currency,
        date_format=date_format,
        sample_size=sample_size,
        seed=seed,
        memory_limit=memory_limit,
        json_=json_,
        method=method,
        features=features,
        playbook=playbook,
        no_pii=no_pii,
    )


@app.command()
def demo(
    workspace: WorkspaceOpt = Path("out/demo.duckdb"),
    out_dir: OutOpt = Path("out"),
    k: KOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run `clustomer segment` on the bundled sample (UCI Online Retail, 541,909 lines)."""
    from clustomer.datasets import sample_path

    _segment(
        sample_path(),
        workspace=workspace,
        out_dir=out_dir,
        k=k,
        as_of=None,
        layout=None,
        mapping={},
        currency=None,
        date_format=None,
        sample_size=10_000,
        seed=0,
        memory_limit=None,
        json_=json_,
    )


@app.command()
def layouts(json_: JsonOpt = False) -> None:
    """List the export layouts clustomer recognises, with their columns."""
    from clustomer.ingest.layouts import LAYOUTS

    if json_:
        typer.echo(
            json.dumps(
                {
                    name: {
                        "title": lay.title,
                        "fields": {
                            f.name: {"column": f.header, "required": f.required} for f in lay.fields
                        },
                    }
                    for name, lay in LAYOUTS.items()
                }
            )
        )
        return
    for name, lay in LAYOUTS.items():
        req = ", ".join(f.header for f in lay.required)
        opt = ", ".join(f.header for f in lay.fields if not f.required) or "—"
        out.print(f"[bold]{name}[/]: {lay.title}\n  required: {req}\n  optional: {opt}")


@app.command()
def version() -> None:
    """Print clustomer's version."""
    typer.echo(__version__)


register_runs(app)
register_marketing(app)
register_privacy(app)
register_identity(app)
register_web(app)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="clustomer")
    sys.exit(0)
