"""``clustomer serve``: the dashboard and the scoring API (``clustomer.web``) under uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from clustomer.cli_common import DEFAULT_WS, WorkspaceOpt, err
from clustomer.cli_common import call as _call


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command()(serve)


def _print_access_log() -> None:
    """The app's own access log (``clustomer.web``, paths with e-mails masked) on stderr,
    in uvicorn's style; uvicorn's own is off (it would print raw paths)."""
    import logging

    log = logging.getLogger("clustomer.web")
    if not any(getattr(h, "_clustomer", False) for h in log.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        handler._clustomer = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def serve(
    workspace: WorkspaceOpt = DEFAULT_WS,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8000,
    allow_host: Annotated[
        list[str] | None, typer.Option("--allow-host", help="Another Host header to accept.")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="Where the access token is kept.")
    ] = None,
    show_pii: Annotated[
        bool,
        typer.Option("--show-pii", help="Show e-mail addresses on the pages (masked by default)."),
    ] = False,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Print a line per request on stderr (e-mail addresses masked; ~25 µs each).",
        ),
    ] = True,
) -> None:
    """Serve the dashboard and the scoring API on this machine (127.0.0.1 by default)."""
    import uvicorn

    from clustomer.web import Settings, create_app
    from clustomer.web.security import load_or_create_token
    from clustomer.web.settings import DEFAULT_ALLOWED_HOSTS, default_token_file

    tf = token_file or default_token_file()
    _call(lambda: load_or_create_token(tf))
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(
            f"[yellow]warning:[/] listening on {escape(host)}: other machines can reach this "
            "server; every request still needs the token"
        )
    settings = Settings(
        workspace=workspace,
        host=host,
        port=port,
        token_file=tf,
        allowed_hosts=(*DEFAULT_ALLOWED_HOSTS, host, *(allow_host or [])),
        show_pii=show_pii,
    )
    err.print(f"clustomer on {settings.base_url}: log in with the token in {tf}")
    if access_log:
        _print_access_log()
    # uvicorn's own access log would print raw paths (keys may be e-mail addresses)
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_level="info")
