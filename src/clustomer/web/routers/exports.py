"""``GET /api/v1/exports/{segment}``: a segment as an audience file, recorded like the CLI's."""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from clustomer.errors import InputError
from clustomer.web.deps import State
from clustomer.web.routers import errors
from clustomer.web.scoring import NotFoundError

router = APIRouter(tags=["exports"])


class Format(StrEnum):
    csv = "csv"
    mailchimp = "mailchimp"
    klaviyo = "klaviyo"
    customer_match = "customer-match"


def export_file(
    state: State, segment: str, fmt: str, holdout: float, seed: int | None
) -> FileResponse:
    """Export into the app's scratch folder, stream the file, delete it afterwards."""
    from clustomer.export import resolve_segment
    from clustomer.store.runs import latest_run_id

    out = state.scratch_dir / f"export-{secrets.token_hex(8)}.csv"
    with state.use() as ws:
        try:
            resolve_segment(ws.store, segment, latest_run_id(ws.store))
        except InputError as exc:  # no such segment: the message lists the segments
            raise NotFoundError(str(exc)) from None
        result = ws.export(segment, fmt=fmt, out=out, holdout=holdout, seed=seed)
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in result.segment.lower())
    return FileResponse(
        result.path,
        media_type="text/csv",
        filename=f"{safe}-{result.format}.csv",
        headers={
            "X-Audience-Id": str(result.audience_id),
            "X-Customers-Written": str(result.n_written),
            "X-Customers-Held-Out": str(result.n_control),
        },
        background=BackgroundTask(result.path.unlink, missing_ok=True),
    )


@router.get(
    "/exports/{segment}",
    response_class=FileResponse,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The file"},
        **errors(404),
    },
    summary="Download a segment as an audience file",
)
def export_segment(
    segment: Annotated[str, Path(min_length=1, max_length=200, description="Name or id")],
    state: State,
    format: Annotated[Format, Query()] = Format.csv,
    holdout: Annotated[float, Query(ge=0.0, lt=1.0, description="Control share")] = 0.0,
    seed: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> FileResponse:
    """Consent and suppression are honoured; the audience (and its control arm, with
    ``holdout``) is recorded in the workspace like ``clustomer export``."""
    return export_file(state, segment, format.value, holdout, seed)
