"""``GET /api/v1/runs``: every segmentation run, newest first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from clustomer.web.deps import State
from clustomer.web.models import RunsOut

router = APIRouter(tags=["runs"])


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def runs_data(state: State) -> list[dict[str, Any]]:
    with state.use() as ws:
        frame = ws.runs()
    return [
        {
            "run_id": int(r["run_id"]),
            "created_at": _iso(r["created_at"]),
            "method": str(r["method"]),
            "as_of": _iso(r["as_of"]),
            "k": int(r["k"]),
            "n_customers": int(r["n_customers"]),
            "reason": None if r["reason"] is None else str(r["reason"]),
        }
        for r in frame.to_dict("records")
    ]


@router.get("/runs", response_model=RunsOut, summary="Every segmentation run, newest first")
def list_runs(state: State) -> dict[str, Any]:
    return {"runs": runs_data(state)}
