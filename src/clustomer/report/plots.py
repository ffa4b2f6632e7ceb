"""Plotly figures for the run report, built only from the summary dict.

Every function takes the output of :func:`clustomer.report.summarize.summarize_run`
(or the same data read back from JSON) and returns a ``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clustomer.report.common import DENSITY_METHODS, METHOD_LABELS
from clustomer.report.plot_base import PALETTE, segment_colors
from clustomer.report.plot_base import base_layout as _base_layout
from clustomer.report.plot_base import empty_figure as _empty
from clustomer.report.plots_depth import criteria_figure, migration_figure, probability_figure
from clustomer.report.plots_value import (
    clv_figure,
    p_active_figure,
    tracking_figure,
    value_figures,
)

__all__ = [
    "FIGURES",
    "OPTIONAL_FIGURES",
    "PALETTE",
    "criteria_figure",
    "figures_for",
    "k_figure",
    "k_selection_figure",
    "migration_figure",
    "probability_figure",
    "projection_figure",
    "rfm_figure",
    "segment_colors",
    "segments_figure",
]

_INERTIA_COLOR = "#0072B2"
_SILHOUETTE_COLOR = "#D55E00"


def k_selection_figure(summary: dict[str, Any]) -> go.Figure:
    """Inertia and silhouette against k, marking the elbow and the chosen k.

    Inertia is on the left axis, silhouette on the right one.

    Parameters
    ----------
    summary : dict
        A run summary (uses ``summary["k_selection"]``).

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> from clustomer.report.summarize import _example_result, summarize_run
    >>> fig = k_selection_figure(summarize_run(_example_result(), imports=[], run={}))
    >>> [t.name for t in fig.data]
    ['Inertia (lower is tighter)', 'Silhouette (higher is better)', 'Elbow', 'Best silhouette']
    """
    ksel = summary.get("k_selection") or {}
    ks = list(ksel.get("ks") or [])
    if not ks:
        chosen = ksel.get("chosen_k")
        return _empty(f"The number of segments was fixed at {chosen}; no curves were computed.")
    inertia = list(ksel.get("inertia") or [])
    silhouette = list(ksel.get("silhouette") or [])

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(
            x=ks,
            y=inertia,
            name="Inertia (lower is tighter)",
            mode="lines+markers",
            line={"color": _INERTIA_COLOR},
            hovertemplate="k=%{x}<br>inertia %{y:,.0f}<extra></extra>",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=ks,
            y=silhouette,
            name="Silhouette (higher is better)",
            mode="lines+markers",
            line={"color": _SILHOUETTE_COLOR, "dash": "dot"},
            hovertemplate="k=%{x}<br>silhouette %{y:.3f}<extra></extra>",
        ),
        secondary_y=True,
    )
    elbow = ksel.get("elbow_k")
    if elbow in ks and ks.index(elbow) < len(inertia):
        fig.add_trace(
            go.Scatter(
                x=[elbow],
                y=[inertia[ks.index(elbow)]],
                name="Elbow",
                mode="markers",
                marker={"symbol": "diamond", "size": 14, "color": _INERTIA_COLOR},
                hovertemplate="elbow at k=%{x}<extra></extra>",
            ),
            secondary_y=False,
        )
    best = ksel.get("best_silhouette_k")
    if best in ks and ks.index(best) < len(silhouette):
        fig.add_trace(
            go.Scatter(
                x=[best],
                y=[silhouette[ks.index(best)]],
                name="Best silhouette",
                mode="markers",
                marker={"symbol": "star", "size": 15, "color": _SILHOUETTE_COLOR},
                hovertemplate="best silhouette at k=%{x}<extra></extra>",
            ),
            secondary_y=True,
        )
    chosen = ksel.get("chosen_k")
    if chosen is not None:
        fig.add_vline(
            x=chosen,
            line={"color": "#444", "width": 2, "dash": "dash"},
            annotation_text=f"chosen: {chosen}",
            annotation_position="top right",
            annotation_yanchor="top",
        )
    fig.update_xaxes(title_text="Number of segments (k)", tickmode="array", tickvals=ks)
    fig.update_yaxes(title_text="Inertia", secondary_y=False)
    fig.update_yaxes(title_text="Silhouette", secondary_y=True, showgrid=False, tickmode="auto")
    return _base_layout(fig)


def segments_figure(summary: dict[str, Any]) -> go.Figure:
    """Share of customers and share of revenue per segment, as grouped bars.

    Parameters
    ----------
    summary : dict
        A run summary (uses ``summary["segments"]``).

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> from clustomer.report.summarize import _example_result, summarize_run
    >>> fig = segments_figure(summarize_run(_example_result(), imports=[], run={}))
    >>> [round(v, 1) for v in fig.data[1].y]
    [90.0, 10.0]
    """
    segments = summary.get("segments") or []
    if not segments:
        return _empty("No segments to show.")
    names = [s["name"] for s in segments]
    sizes = [s.get("size") for s in segments]

    def pct(key: str) -> list[float | None]:
        return [None if s.get(key) is None else 100.0 * s[key] for s in segments]

    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=names,
            y=pct("share_customers"),
            name="Share of customers",
            marker_color="#56B4E9",
            customdata=sizes,
            hovertemplate="%{x}<br>%{y:.1f}% of customers (%{customdata:,})<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=pct("share_revenue"),
            name="Share of revenue",
            marker_color="#E69F00",
            hovertemplate="%{x}<br>%{y:.1f}% of revenue<extra></extra>",
        )
    )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="% of total", ticksuffix="%", rangemode="tozero")
    return _base_layout(fig)


def projection_figure(summary: dict[str, Any]) -> go.Figure:
    """2-D PCA map of (sampled) customers, one colour per segment.

    Axis titles carry the share of variance each component explains.

    Parameters
    ----------
    summary : dict
        A run summary (uses ``projection``, ``explained_variance`` and ``segments``).

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> from clustomer.report.summarize import _example_result, summarize_run
    >>> fig = projection_figure(summarize_run(_example_result(), imports=[], run={}))
    >>> fig.layout.xaxis.title.text
    'Component 1 (60.0% of variance)'
    >>> [(t.name, len(t.x)) for t in fig.data]
    [('Loyal', 2), ('Lapsed', 1)]
    """
    points = summary.get("projection") or []
    if not points:
        return _empty("No customers to map.")
    colors = segment_colors(summary)
    fig = go.Figure()
    for name, color in colors.items():
        xs = [p["x"] for p in points if p["segment"] == name]
        ys = [p["y"] for p in points if p["segment"] == name]
        if not xs:
            continue
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                mode="markers",
                marker={"color": color, "size": 6, "opacity": 0.7},
                hovertemplate="%{fullData.name}<extra></extra>",
            )
        )
    variance = list(summary.get("explained_variance") or [])
    titles = []
    for i in range(2):
        v = variance[i] if i < len(variance) else None
        titles.append(
            f"Component {i + 1}" if v is None else f"Component {i + 1} ({100 * v:.1f}% of variance)"
        )
    fig.update_xaxes(title_text=titles[0], zeroline=False)
    fig.update_yaxes(title_text=titles[1], zeroline=False)
    _base_layout(fig, height=520)
    return fig


def rfm_figure(summary: dict[str, Any]) -> go.Figure:
    """Number of customers in each RFM segment, as horizontal bars (largest on top).

    Parameters
    ----------
    summary : dict
        A run summary (uses ``summary["rfm"]``).

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> from clustomer.report.summarize import _example_result, summarize_run
    >>> fig = rfm_figure(summarize_run(_example_result(), imports=[], run={}))
    >>> list(fig.data[0].y), list(fig.data[0].x)
    (['Hibernating', 'Champions'], [1, 2])
    """
    rows = sorted(summary.get("rfm") or [], key=lambda r: r.get("customers") or 0)
    if not rows:
        return _empty("No RFM segments to show.")
    shares = [
        "" if r.get("share_revenue") is None else f"{100 * r['share_revenue']:.1f}% of revenue"
        for r in rows
    ]
    fig = go.Figure(
        go.Bar(
            x=[r.get("customers") or 0 for r in rows],
            y=[r["rfm_segment"] for r in rows],
            orientation="h",
            marker_color="#009E73",
            customdata=shares,
            hovertemplate="%{y}<br>%{x:,} customers<br>%{customdata}<extra></extra>",
            name="Customers",
        )
    )
    fig.update_xaxes(title_text="Customers", rangemode="tozero", tickformat=",")
    fig.update_yaxes(automargin=True)
    return _base_layout(fig, height=max(260, 40 + 30 * len(rows)))


def k_figure(summary: dict[str, Any]) -> go.Figure:
    """The figure of the "How many segments" section, whichever way k was found.

    Every criterion per k (:func:`criteria_figure`) when the run has them; a note for the
    density methods, which find k by themselves; else inertia and silhouette
    (:func:`k_selection_figure`).

    Examples
    --------
    >>> fig = k_figure({"k_mode": "density", "run": {"method": "hdbscan"}})
    >>> fig.layout.annotations[0].text
    'HDBSCAN found the number of segments by itself; there are no curves to compare.'
    """
    mode = summary.get("k_mode")
    if mode == "criteria" and summary.get("k_criteria"):
        return criteria_figure(summary)
    method = (summary.get("run") or {}).get("method")
    if mode == "density" or (mode is None and method in DENSITY_METHODS):
        label = METHOD_LABELS.get(str(method), str(method or "The method"))
        return _empty(
            f"{label} found the number of segments by itself; there are no curves to compare."
        )
    return k_selection_figure(summary)


#: The report's figures, by the element id they are drawn into.
FIGURES: dict[str, Callable[[dict[str, Any]], go.Figure]] = {
    "plot-k": k_figure,
    "plot-segments": segments_figure,
    "plot-probability": probability_figure,
    "plot-migration": migration_figure,
    "plot-value-tracking": tracking_figure,
    "plot-value-p-active": p_active_figure,
    "plot-value-clv": clv_figure,
    "plot-rfm": rfm_figure,
    "plot-map": projection_figure,
}

#: Figures drawn only when the summary holds their data (their section is hidden otherwise).
OPTIONAL_FIGURES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "plot-k": lambda summary: summary.get("k_mode") != "density",
    "plot-probability": lambda summary: bool(summary.get("probabilities")),
    "plot-migration": lambda summary: bool(summary.get("migration")),
    "plot-value-tracking": lambda summary: "plot-value-tracking" in value_figures(summary),
    "plot-value-p-active": lambda summary: "plot-value-p-active" in value_figures(summary),
    "plot-value-clv": lambda summary: "plot-value-clv" in value_figures(summary),
}


def figures_for(summary: dict[str, Any]) -> dict[str, Callable[[dict[str, Any]], go.Figure]]:
    """The figures this summary needs, by element id.

    Examples
    --------
    >>> sorted(figures_for({"migration": None}))
    ['plot-k', 'plot-map', 'plot-rfm', 'plot-segments']
    """
    return {
        element: build
        for element, build in FIGURES.items()
        if element not in OPTIONAL_FIGURES or OPTIONAL_FIGURES[element](summary)
    }
