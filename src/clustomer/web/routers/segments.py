"""``GET /api/v1/segments`` and ``GET /api/v1/segments/{segment_id}`` (the latest run)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from clustomer.web.data import segment_detail, segments_summary
from clustomer.web.deps import State
from clustomer.web.models import SegmentDetail, SegmentsOut
from clustomer.web.routers import errors

router = APIRouter(tags=["segments"])


@router.get("/segments", response_model=SegmentsOut, summary="The latest run's segments")
def list_segments(state: State) -> dict[str, Any]:
    """Id, name, size, customer and revenue shares and value totals of each segment."""
    with state.use() as ws:
        return segments_summary(ws)


@router.get(
    "/segments/{segment_id}",
    response_model=SegmentDetail,
    responses=errors(404),
    summary="One segment: profile, rules, playbook",
)
def get_segment(segment_id: int, state: State) -> dict[str, Any]:
    with state.use() as ws:
        return segment_detail(ws, segment_id)
