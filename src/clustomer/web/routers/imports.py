"""``POST /api/v1/imports``: upload an export; returns the import's account."""

from __future__ import annotations

import re
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
    """Copy an upload into a new folder of its own under the scratch folder.

    The client's file name is never used as a path: the folder's name is generated, and
    the file's name is the upload's base name cut down to letters, digits, ``. _ -`` and
    spaces (so the import records ``orders.csv``, not a temporary name); the suffix must
    be one of a fixed list. Remove it with :func:`discard_upload`.
    """
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    suffix = next(
        (s for s in sorted(SUFFIXES, key=len, reverse=True) if name.lower().endswith(s)), None
    )
    if suffix is None:
        raise InputError(
            f"cannot import this kind of file; upload one of {', '.join(SUFFIXES)}",
            file=name[:100] or None,
        )
    stem = re.sub(r"[^A-Za-z0-9._ -]", "_", name[: -len(suffix)]).strip(" .")[:100] or "upload"
    folder = state.scratch_dir / f"upload-{secrets.token_hex(8)}"
    folder.mkdir(mode=0o700)
    path = folder / f"{stem}{suffix}"
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, length=1024 * 1024)
    return path


def discard_upload(path: Path) -> None:
    """Remove a file of :func:`save_upload` and its folder."""
    shutil.rmtree(path.parent, ignore_errors=True)


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
        discard_upload(path)
    data["file"] = path.name
    data["rejects"] = list(data.get("rejects") or [])[:20]
    return data
