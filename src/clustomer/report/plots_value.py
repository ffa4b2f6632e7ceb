"""Figures of the report's "Customer value" section, built from ``summary["value"]``.

Examples
--------
>>> v = {"p_active": {"edges": [0.0, 0.5, 1.0], "counts": [3, 1]}}
>>> list(p_active_figure({"value": v}).data[0].y)
[3, 1]
>>> value_figures({"value": None})
[]
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from clustomer.report.plot_base import PALETTE, base_layout, empty_figure, segment_colors

_ACTUAL = "#333333"
_P_ACTIVE_NAME = "P(buys in the next 90 days)"


def _value(summary: dict[str, Any]) -> dict[str, Any]:
    return summary.get("value") or {}


def tracking_figure(summary: dict[str, Any]) -> go.Figure:
    """Weekly purchase days: actual over calibration and holdout, each model in the holdout.

    Examples
    --------
    >>> tr = {"weeks": ["2024-01-01", "2024-01-08"], "actual": [5, 4],
    ...       "actual_cohort": [5, 3], "holdout_start": "2024-01-08", "holdout_weeks": 1,
    ...       "predicted": {"naive": [2.5]}}
    >>> fig = tracking_figure({"value": {"tracking": tr, "model": "naive"}})
    >>> [t.name for t in fig.data]
    ['actual, all customers', "actual, the backtest's customers", 'naive (used)']
    """
    tr = _value(summary).get("tracking")
    if not tr:
        return empty_figure("No weekly tracking was stored with this backtest.")
    used = _value(summary).get("model")
    weeks = tr["weeks"]
    holdout = weeks[-tr["holdout_weeks"] :] if tr["holdout_weeks"] else []
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=weeks, y=tr["actual"], name="actual, all customers", line={"color": _ACTUAL})
    )
    fig.add_trace(
        go.Scatter(
            x=weeks,
            y=tr["actual_cohort"],
            name="actual, the backtest's customers",
            line={"color": _ACTUAL, "dash": "dot"},
        )
    )
    for i, (name, values) in enumerate(tr["predicted"].items()):
        fig.add_trace(
            go.Scatter(
                x=holdout,
                y=values,
                name=f"{name} (used)" if name == used else name,
                line={"color": PALETTE[i % len(PALETTE)], "width": 3 if name == used else 1.5},
            )
        )
    if tr.get("holdout_start"):
        fig.add_vline(x=tr["holdout_start"], line={"color": "#888", "dash": "dash"})
    fig.update_yaxes(title_text="Purchase days per week", rangemode="tozero")
    return base_layout(fig, height=420)


def p_active_figure(summary: dict[str, Any]) -> go.Figure:
    """Histogram of the probability of buying in the next 90 days (``p_active_90d``).

    A non-degenerate BTYD model's P(alive) at the backtest cutoff (``value.p_alive``) is
    drawn beside it, labelled, when the summary has one.

    >>> v = {"p_active": {"edges": [0.0, 0.5, 1.0], "counts": [3, 1]},
    ...      "p_alive": {"edges": [0.0, 0.5, 1.0], "counts": [1, 2], "label": "P(alive), X"}}
    >>> [t.name for t in p_active_figure({"value": v}).data]
    ['P(buys in the next 90 days)', 'P(alive), X']
    """
    pa = _value(summary).get("p_active")
    if not pa:
        return empty_figure("No purchase probabilities to show.")
    edges = pa["edges"]
    labels = [f"{a:.1f}–{b:.1f}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    fig = go.Figure(go.Bar(x=labels, y=pa["counts"], marker_color=PALETTE[0], name=_P_ACTIVE_NAME))
    alive = _value(summary).get("p_alive")
    if alive and alive.get("counts") and alive.get("edges") == edges:
        fig.add_trace(
            go.Bar(x=labels, y=alive["counts"], marker_color=PALETTE[1], name=alive["label"])
        )
        fig.update_layout(barmode="group")
        fig.update_xaxes(title_text="Probability")
        return base_layout(fig, height=340)
    fig.update_xaxes(title_text=_P_ACTIVE_NAME)
    fig.update_yaxes(title_text="Customers")
    return base_layout(fig, height=340)


def clv_figure(summary: dict[str, Any]) -> go.Figure:
    """12-month CLV total per segment (bars in the segment colours)."""
    segs = [s for s in _value(summary).get("segments") or [] if s["clv_12m_total"] is not None]
    if not segs:
        return empty_figure("No customer value per segment.")
    colors = segment_colors(summary)
    fig = go.Figure(
        go.Bar(
            x=[s["name"] for s in segs],
            y=[s["clv_12m_total"] for s in segs],
            marker_color=[colors.get(s["name"], PALETTE[0]) for s in segs],
        )
    )
    fig.update_yaxes(title_text="12-month CLV")
    return base_layout(fig, height=340)


def value_figures(summary: dict[str, Any]) -> list[str]:
    """Element ids of the value figures this summary has data for."""
    v = _value(summary)
    present = {
        "plot-value-tracking": v.get("tracking"),
        "plot-value-p-active": v.get("p_active"),
        "plot-value-clv": any(s.get("clv_12m_total") is not None for s in v.get("segments") or []),
    }
    return [element for element, data in present.items() if data]
