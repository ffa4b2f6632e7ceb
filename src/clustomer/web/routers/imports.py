"""``POST /api/v1/imports``: upload an export; returns the import's account."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from clustomer.errors import InputError
from clustomer.web.deps import AppState, State
from clustomer.web.models import ImportOut
from clustomer.web.routers import errors

router = APIRouter(tags=["imports"])

#: The file kinds the importer reads; the uploaded name gives only this suffix.
SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".xlsx", ".csv.gz")


def save_upload(state: AppState, upload: UploadFile) -> Path:
    """Copy an upload to the scratch folder under a generated name (the client's file
    name is never used as a path; only its suffix is kept, from a fixed list)."""
    name = (upload.filename or "").lower()
    suffix = next((s for s in sorted(SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)
    if suffix is None:
        raise InputError(
            f"cannot import this kind of file; upload one of {', '.join(SUFFIXES)}",
            file=Path(name).name[:100] or None,
        )
    path = state.scratch_dir / f"upload-{secrets.token_hex(8)}{suffix}"
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, length=1024 * 1024)
    return path


@router.post(
    "/imports",
    response_model=ImportOut,
    responses=errors(400),
    summary="Import an uploaded export (CSV, Parquet, .xlsx)",
)
def import_upload(
    file: Annotated[UploadFile, File(description="The export")],
    state: State,
    layout: Annotated[str | None, Form(pattern=r"^[a-z_]{1,40}$")] = None,
    currency: Annotated[str | None, Form(pattern=r"^[A-Za-z]{3}$")] = None,
) -> dict[str, Any]:
    """Atomic and idempotent, like ``clustomer import``: the same bytes twice change
    nothing; a bad file leaves the workspace as it was and answers 400."""
    path = save_upload(state, file)
    try:
        with state.use() as ws:
            summary = ws.import_file(path, layout, currency=currency)
        data: dict[str, Any] = summary.to_dict()
    finally:
        path.unlink(missing_ok=True)
    data["file"] = file.filename and Path(file.filename).name[:200]
    data["rejects"] = list(data.get("rejects") or [])[:20]
    return data
