"""Shared look of the report's plotly figures: palette, layout, empty figures, colours.

Examples
--------
>>> fig = empty_figure("Nothing here.")
>>> fig.layout.annotations[0].text, fig.layout.height
('Nothing here.', 240)
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

#: Colour-blind-friendly qualitative palette (Okabe-Ito, then Tol muted).
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#999933",
    "#AA4499",
)

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def base_layout(fig: go.Figure, *, height: int = 420) -> go.Figure:
    """Apply the report's common layout (white template, font, legend on top)."""
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 30, "t": 40, "b": 50},
        font={"family": FONT, "size": 13},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hoverlabel={"font": {"family": FONT}},
    )
    return fig


def empty_figure(message: str) -> go.Figure:
    """A small figure that only says ``message`` (no axes)."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 15}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, height=240)


def segment_colors(summary: dict[str, Any]) -> dict[str, str]:
    """Map each segment name to a colour, in the order of ``summary["segments"]``.

    Parameters
    ----------
    summary : dict
        A run summary.

    Returns
    -------
    dict
        Segment name to a hex colour; names only seen in the projection come last.

    Examples
    --------
    >>> segment_colors({"segments": [{"name": "A"}, {"name": "B"}], "projection": []})
    {'A': '#0072B2', 'B': '#E69F00'}
    """
    names: list[str] = [s["name"] for s in summary.get("segments", [])]
    for p in summary.get("projection", []):
        if p["segment"] not in names:
            names.append(p["segment"])
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
