"""``GET /api/v1/customers/{key}``: one customer's features, segments and value."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from clustomer.web.data import customer_detail
from clustomer.web.deps import State
from clustomer.web.models import CustomerOut
from clustomer.web.routers import errors

router = APIRouter(tags=["customers"])


@router.get(
    "/customers/{key}",
    response_model=CustomerOut,
    responses=errors(404),
    summary="One customer: features, segment history, value (contact masked)",
)
def get_customer(
    key: Annotated[str, Path(min_length=1, max_length=200)], state: State
) -> dict[str, Any]:
    with state.use() as ws:
        return customer_detail(ws, key)
