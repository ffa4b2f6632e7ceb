"""What every command module of the CLI shares: the options, and turning errors into exit codes.

``cli.py`` holds the core commands and ``cli_marketing.py`` the marketing ones; both use
:func:`call` to run one core function and print a ``ClustomerError`` as a one-line
message (no e-mail addresses) with the error's exit code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import duckdb
import typer
from rich.console import Console
from rich.markup import escape

from clustomer.cli_render import OUT
from clustomer.errors import ClustomerError, mask_emails

out = OUT
err = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace", "-w", help="The workspace file (DuckDB).", envvar="CLUSTOMER_WORKSPACE"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
LayoutOpt = Annotated[
    str | None,
    typer.Option("--layout", help="Layout of the file (default: detected from its header)."),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map", help="FIELD=COLUMN: read a layout field from another column. Repeatable."
    ),
]
CurrencyOpt = Annotated[
    str | None,
    typer.Option("--currency", help="Keep only rows in this currency (e.g. EUR)."),
]
AsOfOpt = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        help="Cut-off date; default: now for imports, the day after the last order for features.",
    ),
]
DateFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        help="strptime format of the order dates, e.g. %d/%m/%Y; needed only when no date "
        "in the whole column tells day-first from month-first.",
    ),
]
DEFAULT_WS = Path("clustomer.duckdb")


def fail(exc: ClustomerError) -> None:
    err.print(f"[bold red]error:[/] {escape(mask_emails(str(exc)))}")
    raise typer.Exit(exc.exit_code)


def call(fn: Callable[[], T], workspace: Path | None = None) -> T:
    """Run a core call; turn errors into a one-line message (no e-mail addresses) and an
    exit code. ``CLUSTOMER_DEBUG=1`` shows the traceback of unexpected errors (database
    errors and bugs), which may quote customer data.

    A ``workspace`` file that did not exist before the call is removed again if the call
    failed before anything was imported: a failed first import leaves nothing behind,
    while a good import followed by a failed segmentation is kept.
    """
    new = workspace is not None and not workspace.exists()
    try:
        try:
            return fn()
        except BaseException:
            from clustomer.store.db import holds_imports

            if new and workspace is not None and not holds_imports(workspace):
                for leftover in (workspace, workspace.with_name(workspace.name + ".wal")):
                    leftover.unlink(missing_ok=True)
            raise
    except ClustomerError as exc:
        fail(exc)
    except duckdb.Error as exc:
        if os.environ.get("CLUSTOMER_DEBUG"):
            raise
        fail(
            ClustomerError(
                f"unexpected database error ({type(exc).__name__}): {exc}. "
                "Set CLUSTOMER_DEBUG=1 to see where it happened"
            )
        )
    except OSError as exc:  # a file or folder we cannot read or write
        fail(ClustomerError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")))
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: its message may quote customer data, so no traceback
        if os.environ.get("CLUSTOMER_DEBUG"):
            raise
        fail(
            ClustomerError(
                f"unexpected error ({type(exc).__name__}): {exc}. This is a bug in "
                "clustomer; set CLUSTOMER_DEBUG=1 to see the traceback (it may hold "
                "customer data)"
            )
        )
    raise AssertionError("unreachable")


RunOpt = Annotated[int | None, typer.Option("--run", help="Run id (default: the latest).")]

PlaybookOpt = Annotated[
    Path | None,
    typer.Option("--playbook", help="A TOML playbook overriding the default (some or all)."),
]
