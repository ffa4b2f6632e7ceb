"""Figures for the deeper parts of the report: every k criterion, membership, migration.

Like :mod:`clustomer.report.plots`, every function takes a run summary (see
:func:`clustomer.report.summarize.summarize_run`) and returns a plotly figure.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clustomer.report.plot_base import base_layout, empty_figure, segment_colors

_LINE = "#0072B2"
_CHOSEN = "#D55E00"
_SUGGESTED = "#009E73"
_PANEL_COLUMNS = 3


def criteria_figure(summary: dict[str, Any]) -> go.Figure:
    """Small multiples: one panel per k criterion, the chosen k marked in each.

    In every panel a dashed vertical line and an open circle mark the chosen k; a green
    diamond marks the k that criterion alone suggests (the elbow for inertia, the gap
    rule for the gap statistic, the best value otherwise). The gap statistic carries its
    standard errors; the silhouette panel has a dotted line at the silhouette a
    candidate needs (within the margin of the best).

    Parameters
    ----------
    summary : dict
        A run summary (uses ``summary["k_criteria"]``).

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> from clustomer.report.kchoice import _example_selection, summarize_criteria
    >>> fig = criteria_figure({"k_criteria": summarize_criteria(_example_selection())})
    >>> [a.text for a in fig.layout.annotations][:2]
    ['Silhouette (higher is better)', 'Stability (higher is better)']
    >>> sorted({s.x0 for s in fig.layout.shapes if s.type == "line" and s.x0 == s.x1})
    [3]
    """
    kc = summary.get("k_criteria") or {}
    panels = list(kc.get("panels") or [])
    if not panels:
        return empty_figure("No criteria were computed for the number of segments.")
    chosen = kc.get("chosen_k")
    cols = min(_PANEL_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"{p['label']} ({p['better']} is better)" for p in panels],
        horizontal_spacing=0.09,
        vertical_spacing=0.22 if rows > 1 else 0.1,
    )
    for i, panel in enumerate(panels):
        row, col = divmod(i, cols)
        row, col = row + 1, col + 1
        ks, values = list(panel["ks"]), list(panel["values"])
        errors = panel.get("errors")
        fig.add_trace(
            go.Scatter(
                x=ks,
                y=values,
                name=panel["label"],
                mode="lines+markers",
                line={"color": _LINE},
                error_y=(
                    {"type": "data", "array": [e or 0.0 for e in errors], "visible": True}
                    if errors
                    else None
                ),
                hovertemplate=f"k=%{{x}}<br>{panel['label']} %{{y:.4g}}<extra></extra>",
                showlegend=False,
            ),
            row=row,
            col=col,
        )
        suggested = panel.get("suggested_k")
        if suggested in ks and values[ks.index(suggested)] is not None:
            fig.add_trace(
                go.Scatter(
                    x=[suggested],
                    y=[values[ks.index(suggested)]],
                    name=f"{panel['label']}: {panel['suggested_label']}",
                    mode="markers",
                    marker={"symbol": "diamond", "size": 13, "color": _SUGGESTED},
                    hovertemplate=f"{panel['suggested_label']}: k=%{{x}}<extra></extra>",
                    showlegend=False,
                ),
                row=row,
                col=col,
            )
        if chosen in ks and values[ks.index(chosen)] is not None:
            fig.add_trace(
                go.Scatter(
                    x=[chosen],
                    y=[values[ks.index(chosen)]],
                    name=f"{panel['label']}: chosen",
                    mode="markers",
                    marker={
                        "symbol": "circle-open",
                        "size": 18,
                        "color": _CHOSEN,
                        "line": {"width": 3},
                    },
                    hovertemplate="chosen: k=%{x}<extra></extra>",
                    showlegend=False,
                ),
                row=row,
                col=col,
            )
        if chosen is not None:
            fig.add_vline(
                x=chosen, line={"color": _CHOSEN, "width": 1.5, "dash": "dash"}, row=row, col=col
            )
        if panel.get("threshold") is not None:
            fig.add_hline(
                y=panel["threshold"],
                line={"color": "#888", "width": 1, "dash": "dot"},
                row=row,
                col=col,
            )
        fig.update_xaxes(tickmode="array", tickvals=ks, row=row, col=col)
    for r in range(1, rows + 1):
        fig.update_xaxes(title_text="k", title_standoff=4, row=r)
    base_layout(fig, height=90 + 270 * rows)
    fig.update_layout(margin={"l": 50, "r": 20, "t": 50, "b": 40}, showlegend=False)
    fig.update_annotations(font_size=13)
    return fig


def probability_figure(summary: dict[str, Any]) -> go.Figure:
    """Membership probability per segment (``gmm``): a box per segment from its quartiles.

    A dotted line marks the threshold below which a member counts as uncertain.

    Parameters
    ----------
    summary : dict
        A run summary (uses ``segments[*]["probability"]`` and ``probabilities``).

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> seg = {"name": "A", "probability": {"min": 0.4, "q1": 0.7, "median": 0.9,
    ...        "q3": 0.97, "max": 1.0, "uncertain_share": 0.3, "customers": 10}}
    >>> fig = probability_figure({"segments": [seg], "probabilities": {"threshold": 0.8}})
    >>> [t.name for t in fig.data], list(fig.data[0].median)
    (['A'], [0.9])
    """
    segments = [s for s in summary.get("segments") or [] if s.get("probability")]
    if not segments:
        return empty_figure("No membership probabilities to show.")
    colors = segment_colors(summary)
    fig = go.Figure()
    for seg in segments:
        p = seg["probability"]
        fig.add_trace(
            go.Box(
                x=[seg["name"]],
                q1=[p["q1"]],
                median=[p["median"]],
                q3=[p["q3"]],
                lowerfence=[p["min"]],
                upperfence=[p["max"]],
                name=seg["name"],
                marker_color=colors.get(seg["name"], _LINE),
                hoverinfo="y+name",
            )
        )
    threshold = (summary.get("probabilities") or {}).get("threshold")
    if threshold is not None:
        fig.add_hline(
            y=threshold,
            line={"color": "#444", "width": 1.5, "dash": "dot"},
            annotation_text=f"uncertain below {threshold:g}",
            annotation_position="bottom right",
        )
    fig.update_yaxes(title_text="Membership probability", range=[0, 1.02])
    fig.update_layout(showlegend=False)
    return base_layout(fig, height=360)


def migration_figure(summary: dict[str, Any]) -> go.Figure:
    """Heatmap of customers by segment before (rows) and after (columns).

    Parameters
    ----------
    summary : dict
        A run summary (uses ``summary["migration"]``).

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> m = {"rows": ["Loyal"], "columns": ["Loyal", "(gone)"], "counts": [[3, 1]],
    ...      "before_name": "May", "after_name": "June"}
    >>> fig = migration_figure({"migration": m})
    >>> [list(row) for row in fig.data[0].z], fig.layout.yaxis.title.text
    ([[3, 1]], 'May')
    """
    m = summary.get("migration") or {}
    rows, columns, counts = m.get("rows") or [], m.get("columns") or [], m.get("counts") or []
    if not rows or not columns:
        return empty_figure("No earlier run to compare with.")
    fig = go.Figure(
        go.Heatmap(
            z=counts,
            x=columns,
            y=rows,
            colorscale="Blues",
            texttemplate="%{z:,}",
            hovertemplate="%{y} → %{x}<br>%{z:,} customers<extra></extra>",
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": "Customers"}},
        )
    )
    fig.update_xaxes(title_text=str(m.get("after_name") or "after"), type="category", side="top")
    fig.update_yaxes(
        title_text=str(m.get("before_name") or "before"), type="category", autorange="reversed"
    )
    base_layout(fig, height=max(300, 120 + 42 * len(rows)))
    fig.update_layout(margin={"l": 60, "r": 30, "t": 80, "b": 30})
    return fig
