"""How the number of segments was chosen, as plain data: one panel per criterion.

:func:`summarize_criteria` reads ``KSelection.criteria`` (the plain data of
:meth:`clustomer.segment.criteria.KCriteria.to_dict`) and returns what the report shows:
one *panel* per criterion (values per candidate *k*, what that criterion alone would
suggest, the chosen *k*) and one table row per *k*. The segment centres it also holds are
left out (the report does not need them).

Examples
--------
>>> from clustomer.report.kchoice import _example_selection
>>> kc = summarize_criteria(_example_selection())
>>> [p["key"] for p in kc["panels"]]
['silhouette', 'stability', 'inertia', 'gap', 'calinski_harabasz', 'davies_bouldin']
>>> kc["chosen_k"], kc["panels"][3]["ks"], kc["panels"][3]["suggested_k"]
(3, [1, 2, 3, 4], 3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clustomer.report.common import float_or_none, int_or_none, plain
from clustomer.segment.criteria import SILHOUETTE_MARGIN
from clustomer.segment.result import KSelection

#: Criteria shown, in order: key, label, which way is better, what it measures,
#: the ``KCriteria`` attribute holding the *k* it suggests (None: its best value),
#: and what that suggestion is called.
CRITERIA: tuple[tuple[str, str, str, str, str | None, str], ...] = (
    (
        "silhouette",
        "Silhouette",
        "higher",
        "how well separated the segments are (-1 to 1)",
        "best_silhouette_k",
        "best",
    ),
    (
        "stability",
        "Stability",
        "higher",
        "how alike the segments come out when the customers are resampled "
        "(mean adjusted Rand index over the bootstrap fits)",
        None,
        "most stable",
    ),
    (
        "inertia",
        "Inertia",
        "lower",
        "spread within the segments; it always falls as k grows, so look for the elbow",
        "elbow_k",
        "elbow",
    ),
    (
        "gap",
        "Gap statistic",
        "higher",
        "how much tighter the segments are than in structureless data; the rule takes the "
        "smallest k whose gap is within one standard error of the next",
        "gap_k",
        "gap rule",
    ),
    (
        "calinski_harabasz",
        "Calinski-Harabasz",
        "higher",
        "spread between segments relative to spread within them",
        None,
        "best",
    ),
    (
        "davies_bouldin",
        "Davies-Bouldin",
        "lower",
        "how much each segment resembles its closest neighbour",
        None,
        "best",
    ),
)


def _values(data: Mapping[str, Any], key: str, n: int) -> list[float | None]:
    raw = data.get(key)
    values = [float_or_none(v) for v in raw] if isinstance(raw, Sequence) else []
    return (values + [None] * n)[:n]


def _best(ks: Sequence[int], values: Sequence[float | None], better: str) -> int | None:
    """The *k* with the best value (ties: the smaller *k*)."""
    sign = 1.0 if better == "higher" else -1.0
    scored = [(sign * v, -k) for k, v in zip(ks, values, strict=True) if v is not None]
    return -max(scored)[1] if scored else None


def summarize_criteria(selection: KSelection) -> dict[str, Any] | None:
    """Every criterion per candidate *k* as plain data, or ``None`` without criteria.

    Parameters
    ----------
    selection : KSelection
        The run's k selection; only ``criteria`` (a dict or ``None``) and ``reason``
        are read.

    Returns
    -------
    dict or None
        ``ks, chosen_k, elbow_k, gap_k, best_silhouette_k, reason, forced, sample_size,
        n_boot, n_refs, boot_size, silhouette_margin, panels, rows``. Each panel is
        ``{key, label, better, help, ks, values, errors, suggested_k, suggested_label,
        chosen_value, threshold}`` (``errors``: the gap's standard errors, else
        ``None``; ``threshold``: the silhouette a candidate needs, else ``None``).
        Panels whose values are all undefined are left out. Each row is ``{k, chosen,
        values: {criterion: value}, gap_se}``. ``None`` when ``criteria`` is ``None`` or
        has no candidate.

    Examples
    --------
    >>> from clustomer.report.kchoice import _example_selection
    >>> kc = summarize_criteria(_example_selection())
    >>> kc["rows"][1]["chosen"], kc["rows"][1]["values"]["stability"]
    (True, 0.93)
    >>> kc["panels"][0]["threshold"]
    0.45
    """
    if not isinstance(selection.criteria, Mapping):
        return None
    data: dict[str, Any] = plain({k: v for k, v in selection.criteria.items() if k != "centers"})
    ks = [k for k in (int_or_none(v) for v in data.get("ks") or []) if k is not None]
    if not ks:
        return None
    n = len(ks)
    chosen = int_or_none(data.get("chosen_k"))
    if chosen is None:
        chosen = int(selection.chosen_k)

    panels: list[dict[str, Any]] = []
    columns: dict[str, list[float | None]] = {}
    for key, label, better, help_text, suggested_key, suggested_label in CRITERIA:
        values = _values(data, key, n)
        if all(v is None for v in values):
            continue
        columns[key] = values
        panel_ks = list(ks)
        errors: list[float | None] | None = None
        if key == "gap":
            errors = _values(data, "gap_se", n)
            gap_1 = float_or_none(data.get("gap_1"))
            if gap_1 is not None and 1 not in ks:
                panel_ks = [1, *ks]
                values = [gap_1, *values]
                errors = [float_or_none(data.get("gap_se_1")), *errors]
        suggested = (
            int_or_none(data.get(suggested_key))
            if suggested_key
            else _best(panel_ks, values, better)
        )
        threshold = None
        if key == "silhouette":
            best = max((v for v in values if v is not None), default=None)
            threshold = None if best is None else round(best - SILHOUETTE_MARGIN, 6)
        panels.append(
            {
                "key": key,
                "label": label,
                "better": better,
                "help": help_text,
                "ks": panel_ks,
                "values": values,
                "errors": errors,
                "suggested_k": suggested,
                "suggested_label": suggested_label,
                "chosen_value": values[panel_ks.index(chosen)] if chosen in panel_ks else None,
                "threshold": threshold,
            }
        )
    gap_se = _values(data, "gap_se", n)
    rows = [
        {
            "k": k,
            "chosen": k == chosen,
            "values": {key: values[i] for key, values in columns.items()},
            "gap_se": gap_se[i],
        }
        for i, k in enumerate(ks)
    ]
    return {
        "ks": ks,
        "chosen_k": chosen,
        "elbow_k": int_or_none(data.get("elbow_k")),
        "gap_k": int_or_none(data.get("gap_k")),
        "best_silhouette_k": int_or_none(data.get("best_silhouette_k")),
        "reason": str(selection.reason or data.get("reason") or ""),
        "forced": bool(data.get("forced") or selection.forced),
        "sample_size": int_or_none(data.get("sample_size")),
        "n_boot": int_or_none(data.get("n_boot")),
        "n_refs": int_or_none(data.get("n_refs")),
        "boot_size": int_or_none(data.get("boot_size")),
        "silhouette_margin": SILHOUETTE_MARGIN,
        "panels": panels,
        "rows": rows,
    }


def _example_selection() -> KSelection:
    """A small k selection with every criterion, for docstring examples only."""
    criteria = {
        "ks": [2, 3, 4],
        "inertia": [100.0, 60.0, 50.0],
        "silhouette": [0.45, 0.47, 0.30],
        "calinski_harabasz": [120.0, 150.0, 130.0],
        "davies_bouldin": [0.9, 0.7, float("nan")],
        "gap": [0.2, 0.5, 0.55],
        "gap_se": [0.05, 0.05, 0.06],
        "gap_1": 0.0,
        "gap_se_1": 0.04,
        "stability": [0.81, 0.93, 0.6],
        "segment_stability": {"3": [0.9, 0.95, 0.55]},
        "elbow_k": 3,
        "gap_k": 3,
        "best_silhouette_k": 3,
        "chosen_k": 3,
        "reason": "k = 3: the highest stability (0.93) among the k with a silhouette within "
        "0.02 of the best; the elbow and the gap statistic agree",
        "sample_size": 500,
        "n_boot": 20,
        "n_refs": 10,
        "forced": False,
        "centers": {"3": [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]},
    }
    return KSelection(
        ks=[2, 3, 4],
        inertia=[100.0, 60.0, 50.0],
        silhouette=[0.45, 0.47, 0.30],
        elbow_k=3,
        best_silhouette_k=3,
        chosen_k=3,
        reason=str(criteria["reason"]),
        sample_size=500,
        criteria=criteria,
        segment_stability=[0.9, 0.95, 0.55],
    )
