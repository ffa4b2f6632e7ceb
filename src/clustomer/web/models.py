"""The API's request and response bodies (pydantic), which the OpenAPI schema documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CustomerOut",
    "ErrorBody",
    "ImportOut",
    "OrderIn",
    "RunOut",
    "RunsOut",
    "ScoreIn",
    "ScoreOut",
    "SegmentDetail",
    "SegmentOut",
    "SegmentsOut",
]

Number = float | int | None
Scalar = float | int | str | bool | None


class ErrorBody(BaseModel):
    """Every error: a message a person can act on (and, for 422, what was wrong where)."""

    error: str
    details: list[dict[str, Any]] | None = None


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str = ""
    size: int
    share_customers: float
    share_revenue: float
    stability: float | None = None
    expected_revenue_90d_total: float | None = None
    clv_12m_total: float | None = None


class SegmentsOut(BaseModel):
    run_id: int
    as_of: str
    method: str
    k: int
    customers: int
    segments: list[SegmentOut]


class PlaybookOut(BaseModel):
    archetype: str | None = None
    objective: str | None = None
    actions: list[str] = Field(default_factory=list)
    channel: str | None = None
    offer: str | None = None
    cadence: str | None = None
    expected_value: float | None = None


class SegmentDetail(BaseModel):
    run_id: int
    segment: SegmentOut
    profile: dict[str, Scalar]
    rules: list[str]
    fidelity: float | None = None
    playbook: PlaybookOut | None = None


class HistoryEntry(BaseModel):
    run_id: int
    as_of: str
    segment_id: int
    segment_name: str


class CustomerOut(BaseModel):
    customer_key: str
    run_id: int | None
    as_of: str
    features: dict[str, Scalar]
    segment_id: int | None = None
    segment_name: str | None = None
    history: list[HistoryEntry]
    values: dict[str, Scalar] | None = None
    contact: dict[str, str | None] | None = None


class OrderIn(BaseModel):
    """One new order line: an amount, or a quantity and a unit price."""

    # strict: "1" or true is not a number; ts stays lax (JSON has no datetime type)
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        strict=True,
        json_schema_extra={  # the rule of _has_value, for clients and schema-based tests
            "anyOf": [
                {"required": ["amount"], "properties": {"amount": {"type": "number"}}},
                {
                    "required": ["quantity", "unit_price"],
                    "properties": {
                        "quantity": {"type": "number"},
                        "unit_price": {"type": "number"},
                    },
                },
            ]
        },
    )

    order_id: str = Field(min_length=1, max_length=200)
    ts: datetime = Field(strict=False)
    product_id: str | None = Field(default=None, max_length=200)
    quantity: float | None = Field(default=None, ge=-1e9, le=1e9)
    unit_price: float | None = Field(default=None, ge=0, le=1e9)
    amount: float | None = Field(default=None, ge=-1e12, le=1e12)

    @field_validator("ts", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        if not isinstance(value, str | datetime):
            raise ValueError("ts must be an ISO 8601 date-time string")
        return value

    @model_validator(mode="after")
    def _has_value(self) -> OrderIn:
        if self.amount is None and (self.quantity is None or self.unit_price is None):
            raise ValueError("give an amount, or a quantity and a unit_price")
        return self


class ScoreIn(BaseModel):
    """A known customer (``customer_key``), new orders, or both."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [
                {"required": ["customer_key"], "properties": {"customer_key": {"type": "string"}}},
                {"required": ["orders"], "properties": {"orders": {"minItems": 1}}},
            ]
        },
    )

    customer_key: str | None = Field(default=None, min_length=1, max_length=200)
    orders: list[OrderIn] = Field(default_factory=list, max_length=1000)
    top: int = Field(default=5, ge=0, le=50)

    @field_validator("top", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # JSON Schema counts 26.0 as an integer; strict mode would refuse it
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @model_validator(mode="after")
    def _something(self) -> ScoreIn:
        if self.customer_key is None and not self.orders:
            raise ValueError("give a customer_key, orders, or both")
        return self


class Recommendation(BaseModel):
    rank: int
    product_id: str
    product_name: str | None = None
    score: float
    reason: str


class ScoreOut(BaseModel):
    customer_key: str
    known: bool
    run_id: int
    as_of: str
    new_lines: int
    segment_id: int
    segment_name: str
    run_segment_id: int | None = None
    run_segment_name: str | None = None
    probabilities: dict[str, float] | None = None
    probability_source: str | None = None
    p_active_90d: float | None = None
    expected_revenue_90d: float | None = None
    clv_12m: float | None = None
    value_basis: str
    features: dict[str, Scalar]
    recommendations: list[Recommendation]
    recommendations_note: str | None = None


class RunOut(BaseModel):
    run_id: int
    created_at: str
    method: str
    as_of: str
    k: int
    n_customers: int
    reason: str | None = None


class RunsOut(BaseModel):
    runs: list[RunOut]


class ImportOut(BaseModel):
    """The account of one import (``clustomer import --json``)."""

    model_config = ConfigDict(extra="allow")

    import_id: int
    file: str | None = None
    layout: str
    currency: str | None = None
    rows_read: int
    rows_kept: int
    rows_dropped: dict[str, int]
    customers: int
    orders: int
    revenue_kept: float
    revenue_dropped: dict[str, float]
    first_order: str | None = None
    last_order: str | None = None
    already_imported: bool
    rejects: list[dict[str, Any]] = Field(default_factory=list, description="The first 20")
