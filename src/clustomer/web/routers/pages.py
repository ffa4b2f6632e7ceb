"""The pages: login, overview, segment, customer lookup, upload (with a background job),
runs; and ``/static/*`` (plotly.js from the installed plotly package, never a CDN)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from clustomer.errors import ClustomerError, mask_emails
from clustomer.web.deps import PageAuth, State
from clustomer.web.security import SESSION_COOKIE, check_token, sign_session

router = APIRouter(include_in_schema=False)

_STATIC = {"app.js": "application/javascript", "style.css": "text/css"}
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def _env() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("clustomer.web", "templates"),
        autoescape=select_autoescape(["j2", "html"], default_for_string=True),
    )


_templates: dict[str, Any] = {}


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from ``templates/<name>.j2`` (autoescaped), with the page headers."""
    if "env" not in _templates:
        _templates["env"] = _env()
    html = _templates["env"].get_template(f"{name}.j2").render(**context)
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Content-Security-Policy": _CSP,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def _safe_next(target: str | None) -> str:
    """Only a local path (``/x``, never ``//host`` or a URL) may follow the login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


# -- static files ---------------------------------------------------------------------
@router.get("/static/plotly.min.js")
def plotly_js() -> FileResponse:
    """plotly.js as the installed plotly package ships it (served, not copied)."""
    path = resources.files("plotly") / "package_data" / "plotly.min.js"
    return FileResponse(
        str(path),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in _STATIC:
        return JSONResponse({"error": "no such file"}, status_code=404)
    text = (resources.files("clustomer.web") / "static" / name).read_text(encoding="utf-8")
    return Response(text, media_type=_STATIC[name])


# -- login ------------------------------------------------------------------------------
@router.get("/login")
def login_form(next: str | None = None) -> HTMLResponse:
    return render("login", next=_safe_next(next), error=None)


@router.post("/login")
def login(
    state: State,
    token: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    if not check_token(token.strip(), state.token):
        time.sleep(0.2)  # a little friction against guessing
        return render("login", status=401, next=_safe_next(next), error="That is not the token.")
    expires = int(time.time() + state.settings.session_hours * 3600)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(state.token, expires=expires),
        max_age=int(state.settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@contextmanager
def _page_errors() -> Iterator[dict[str, Any]]:
    """Collect a ClustomerError as a message for the page instead of failing it."""
    box: dict[str, Any] = {"error": None}
    try:
        yield box
    except ClustomerError as exc:
        box["error"] = mask_emails(str(exc))


# -- pages ------------------------------------------------------------------------------
@router.get("/", dependencies=[PageAuth])
def overview_page(state: State) -> HTMLResponse:
    from clustomer.web.data import overview

    data: dict[str, Any] = {}
    with _page_errors() as box, state.use() as ws:
        data = overview(ws)
    return render("overview", page="overview", data=data, error=box["error"])


@router.get("/segments/{segment_id}", dependencies=[PageAuth])
def segment_page(segment_id: int, state: State) -> HTMLResponse:
    from clustomer.web.data import segment_detail, segment_members

    with state.use() as ws:
        try:
            detail = segment_detail(ws, segment_id)
        except ClustomerError as exc:
            return render("message", status=404, page="", message=mask_emails(str(exc)))
        members = segment_members(ws, segment_id)
    return render("segment", page="segments", d=detail, members=members)


@router.get("/segments/{segment_id}/export", dependencies=[PageAuth])
def segment_export(segment_id: int, state: State, format: str = "csv") -> Response:
    from clustomer.web.routers.exports import Format, export_file

    if format not in {f.value for f in Format}:
        return render("message", status=400, page="", message=f"unknown format {format!r}")
    try:
        return export_file(state, str(segment_id), format, 0.0, None)
    except ClustomerError as exc:
        return render("message", status=400, page="", message=mask_emails(str(exc)))


@router.get("/customers", dependencies=[PageAuth])
def customer_page(
    state: State, key: str | None = None, segment: int | None = None, rank: int | None = None
) -> HTMLResponse:
    """A customer by ``key``, or the ``rank``-th most valuable member of ``segment`` (the
    segment page's links: no customer key in a URL)."""
    return _customer(state, key, segment, rank)


@router.post("/customers", dependencies=[PageAuth])
def customer_lookup(state: State, key: Annotated[str, Form(max_length=200)]) -> HTMLResponse:
    """The lookup form posts the key, so that it stays out of URLs and browser history."""
    return _customer(state, key, None, None)


def _customer(state: State, key: str | None, segment: int | None, rank: int | None) -> HTMLResponse:
    from clustomer.web.data import customer_detail, mask_email, segment_members
    from clustomer.web.scoring import NotFoundError

    detail = None
    show_pii = state.settings.show_pii
    with _page_errors() as box:
        with state.use() as ws:
            if not key and segment is not None and rank is not None and 1 <= rank <= 100:
                members = segment_members(ws, segment, limit=rank)
                if len(members) < rank:
                    raise NotFoundError(f"segment {segment} has no customer ranked {rank}")
                key = str(members[rank - 1]["key"])
            if key:
                detail = customer_detail(ws, key[:200], show_pii=show_pii)
    status = 404 if box["error"] else 200
    shown = key if not key or show_pii or "@" not in key else mask_email(key)
    return render(
        "customer", status=status, page="customers", key=shown or "", c=detail, error=box["error"]
    )


@router.get("/runs", dependencies=[PageAuth])
def runs_page(state: State) -> HTMLResponse:
    from clustomer.web.routers.runs import runs_data

    return render("runs", page="runs", runs=runs_data(state))


@router.get("/upload", dependencies=[PageAuth])
def upload_page(job: str | None = None) -> HTMLResponse:
    return render("upload", page="upload", job=job if job and job.isalnum() else None)


@router.post("/upload", dependencies=[PageAuth])
def upload(state: State, file: UploadFile) -> Response:
    """Save the file, then import and segment it in a background job."""
    from clustomer.web.routers.imports import discard_upload, save_upload

    try:
        path = save_upload(state, file)
    except ClustomerError as exc:
        return render("upload", status=400, page="upload", job=None, error=mask_emails(str(exc)))

    def work(report: Any) -> dict[str, Any]:
        try:
            with state.use() as ws:
                report("import")
                summary = ws.import_file(path)
                account = upload_account(summary)
                report("segment", account)  # the accounting shows while it segments
                run = ws.segment()
            return {**account, "run_id": run.run_id, "k": run.k}
        finally:
            discard_upload(path)

    job = state.jobs.start(work)
    return RedirectResponse(f"/upload?job={job.id}", status_code=303)


def upload_account(summary: Any) -> dict[str, Any]:
    """What the upload page shows of an import: every row accounted for (kept, or
    dropped by reason) and the first rejected cells, e-mail addresses masked."""
    rejects = [
        {k: mask_emails(str(v)) if isinstance(v, str) else v for k, v in r.items()}
        for r in list(summary.rejects)[:20]
    ]
    return {
        "import_id": summary.import_id,
        "file": summary.file,
        "layout": summary.layout,
        "already_imported": summary.already_imported,
        "rows_read": summary.rows_read,
        "rows_kept": summary.rows_kept,
        "rows_dropped": dict(summary.rows_dropped),
        "customers": summary.customers,
        "rejects": rejects,
        "rejects_total": len(summary.rejects),
    }


@router.get("/jobs/{job_id}", dependencies=[PageAuth])
def job_status(job_id: str, state: State) -> JSONResponse:
    job = state.jobs.get(job_id)
    if job is None:
        return JSONResponse({"error": "no such job"}, status_code=404)
    return JSONResponse(job.to_dict())
