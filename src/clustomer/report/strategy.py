"""The report's "Marketing strategy" section as plain data, and its figure.

Each segment's playbook entry (objective, actions, channel, offer, cadence) and expected
value, ordered by expected value (:func:`clustomer.playbook.build_plan`). The run record
may carry ``playbook`` (a :class:`~clustomer.playbook.Playbook` or the path of a user
playbook; the default otherwise) and ``values`` (per-customer value columns and/or the
RFM features, as the value section reads them). The contact list of the plan is never
built here: only segment aggregates leave this module, no customer keys.

Examples
--------
>>> from clustomer.report.summarize import _example_result
>>> s = summarize_strategy({}, _example_result())
>>> [(seg["name"], seg["archetype"]) for seg in s["segments"]]
[('Loyal', 'Loyal'), ('Lapsed', 'fallback')]
>>> s["basis"], strategy_figures({"strategy": s})
(None, {})
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from clustomer.playbook.load import DEFAULT_SOURCE, Playbook, load_playbook
from clustomer.playbook.plan import build_plan
from clustomer.report.common import plain
from clustomer.segment.result import SegmentationResult

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["strategy_figure", "strategy_figures", "summarize_strategy"]

#: The element the expected-value figure is drawn into.
FIGURE_ID = "plot-strategy"


def _playbook(value: Any) -> Playbook | None:
    if isinstance(value, Playbook):
        return value
    if isinstance(value, str | os.PathLike):
        return load_playbook(value)
    return None


def _source_label(source: str) -> str:
    # a file name only: the user's folders have no place in a shared report
    return "the default playbook" if source == DEFAULT_SOURCE else Path(source).name


def summarize_strategy(run: Mapping[str, Any], result: SegmentationResult) -> dict[str, Any] | None:
    """The strategy section, or None when the run has no segments.

    Parameters
    ----------
    run : mapping
        The run record given to :func:`~clustomer.report.summarize.summarize_run`;
        reads ``playbook`` and ``values``.
    result : SegmentationResult
        Its ``profiles`` and ``assignments`` (segment of each customer).

    Returns
    -------
    dict or None
        ``basis`` (``"value model"``, ``"RFM proxy"`` or None), ``basis_note``,
        ``playbook`` (source labels), ``overridden``, ``has_value``, ``segments``: each
        ``segment_id, name, size, archetype, expected_value, expected_value_share,
        expected_revenue_90d, revenue_share, objective, actions, channel, offer,
        cadence``, ordered by expected value.

    Raises
    ------
    clustomer.playbook.PlaybookError
        ``run["playbook"]`` is the path of a playbook that cannot be used.
    """
    if result.profiles.empty:
        return None
    values = run.get("values")
    playbook = _playbook(run.get("playbook"))
    plan = build_plan(
        result.profiles,
        result.assignments,
        values if isinstance(values, pd.DataFrame) else None,
        playbook,
        contact_limit=0,
    )
    segments = []
    for seg in plan.segments:
        data = seg.to_dict()
        data.pop("description", None)  # the segments table shows it already
        segments.append(plain(data))
    return {
        "basis": plan.basis,
        "basis_note": plan.basis_note,
        "playbook": [_source_label(s) for s in plan.playbook_sources],
        "overridden": list(playbook.overridden) if playbook else [],
        "has_value": any(s["expected_value"] is not None for s in segments),
        "segments": segments,
    }


def strategy_figure(summary: Mapping[str, Any]) -> go.Figure:
    """Expected value per segment, highest first, in the segment colours.

    Examples
    --------
    >>> s = {"strategy": {"segments": [{"name": "A", "expected_value": 5.0}]},
    ...      "segments": [{"name": "A"}]}
    >>> list(strategy_figure(s).data[0].y)
    [5.0]
    """
    import plotly.graph_objects as go

    from clustomer.report.plot_base import PALETTE, base_layout, empty_figure, segment_colors

    strategy = summary.get("strategy") or {}
    segs = [s for s in strategy.get("segments") or [] if s.get("expected_value") is not None]
    if not segs:
        return empty_figure("No expected value per segment.")
    colors = segment_colors(dict(summary))
    fig = go.Figure(
        go.Bar(
            x=[s["name"] for s in segs],
            y=[s["expected_value"] for s in segs],
            marker_color=[colors.get(s["name"], PALETTE[0]) for s in segs],
        )
    )
    basis = strategy.get("basis")
    title = "Expected value, next 90 days" + (" (RFM proxy)" if basis == "RFM proxy" else "")
    fig.update_yaxes(title_text=title, rangemode="tozero")
    return base_layout(fig, height=340)


def strategy_figures(
    summary: Mapping[str, Any],
) -> dict[str, Callable[[dict[str, Any]], go.Figure]]:
    """The strategy figure by element id, when the section has expected values."""
    strategy = summary.get("strategy") or {}
    return {FIGURE_ID: strategy_figure} if strategy.get("has_value") else {}
