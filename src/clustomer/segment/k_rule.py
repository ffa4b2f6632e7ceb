"""The criteria for *k* as one table (:class:`KCriteria`), and the rule that chooses *k*.

The criteria themselves are computed by :func:`clustomer.segment.criteria.k_criteria`
(see that module for their definitions); :func:`choose_from_criteria` applies the rule
below to them. Everything public here is re-exported by :mod:`clustomer.segment.criteria`.

The rule
--------
1. The candidates are the *k* whose silhouette is within :data:`SILHOUETTE_MARGIN` (0.02)
   of the best silhouette (finite silhouettes only; the comparison allows 1e-12 for
   rounding).
2. Among them the one with the highest bootstrap stability is chosen, the stabilities
   being compared rounded to two decimals (as shown); ties go to the smaller *k*.
   The reason reads ``"k = 5: the highest stability (0.93) among the k with a silhouette
   within 0.02 of the best"``.
3. The elbow and the gap statistic are a stated cross-check, never a vote: the sentence
   (of step 2, or of the first two fallbacks of step 4) goes on with ``"; the elbow and
   the gap statistic agree"``, or ``"; the elbow suggests 4, the gap statistic agrees"``,
   ``"; the inertia curve has no clear elbow, the gap statistic suggests 1 (no cluster
   structure)"``, ``"; ... the gap statistic still rises at k = 10"``, ... When the
   sample could not hold every requested *k*, ``"; k was capped at 4 by the 5 sampled
   customers"`` follows.
4. Without any stability (``n_boot = 0``) the best silhouette is chosen; without any
   finite silhouette the highest stability; without either the elbow, then the smallest
   candidate -- each with its own sentence.
5. With fewer than two distinct customers in the sample there is no candidate: ``k = 1``.
6. A *k* forced by the user is taken as is (and added to the candidates so that every
   curve covers it); the sentence says what the rule would have picked:
   ``"k = 7 as asked; the rule would pick 5 (the highest stability (0.93) among ...)"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SILHOUETTE_MARGIN", "KCriteria", "choose_from_criteria"]

#: Candidates must have a silhouette within this much of the best one (rule step 1).
SILHOUETTE_MARGIN = 0.02


@dataclass
class KCriteria:
    """Every criterion for every candidate *k*, and the *k* chosen from them.

    All lists are aligned with ``ks`` and were computed on one sample of ``sample_size``
    customers; ``nan`` marks a value that is undefined (e.g. the silhouette of a labeling
    with a single cluster). See :mod:`clustomer.segment.criteria` for the definitions and
    this module's notes for the rule.

    Attributes
    ----------
    ks : list of int
        Candidates, increasing (capped to what the sample supports).
    inertia, silhouette, calinski_harabasz, davies_bouldin : list of float
    gap, gap_se : list of float
        Gap statistic and its standard error ``s_k``.
    stability : list of float
        Mean adjusted Rand index between the sample fit and the bootstrap fits.
    segment_stability : dict of int to list of float
        Per *k*, per cluster of the sample fit (in the order of its sorted labels), the
        mean bootstrap Jaccard similarity (Hennig 2007).
    centers : dict of int to ndarray
        Per *k*, the means of the sample fit's clusters (same order), to match them with
        the segments of a model fitted on all customers.
    elbow_k, gap_k, best_silhouette_k : int or None
    chosen_k : int
    reason : str
    sample_size, n_boot, n_refs : int
    forced : bool
        Whether ``chosen_k`` was set by the user.
    gap_1, gap_se_1 : float
        Gap statistic and standard error at ``k = 1`` (used by the gap rule).
    requested_ks : list of int
        The candidates as asked for, before capping.
    ref_size, boot_size : int
        Rows per gap reference set and per bootstrap resample.
    gap_reference : str
        ``"pca"`` (variant (b) of Tibshirani et al.) or ``"box"`` (variant (a)).

    Examples
    --------
    >>> from clustomer.segment.criteria import k_criteria, kmeans_fit_labels
    >>> crit = k_criteria(np.array([[1.0, 2.0]] * 5), [2, 3], kmeans_fit_labels(n_init=1))
    >>> crit.ks, crit.chosen_k, crit.reason
    ([], 1, 'k = 1: all sampled customers have the same feature values, so there is one segment')
    >>> crit.to_dict()["gap_k"] is None
    True
    """

    ks: list[int]
    inertia: list[float]
    silhouette: list[float]
    calinski_harabasz: list[float]
    davies_bouldin: list[float]
    gap: list[float]
    gap_se: list[float]
    stability: list[float]
    segment_stability: dict[int, list[float]]
    elbow_k: int | None
    gap_k: int | None
    best_silhouette_k: int | None
    chosen_k: int
    reason: str
    sample_size: int
    n_boot: int
    n_refs: int
    forced: bool = False
    gap_1: float = math.nan
    gap_se_1: float = math.nan
    requested_ks: list[int] = field(default_factory=list)
    ref_size: int = 0
    boot_size: int = 0
    gap_reference: str = "pca"
    centers: dict[int, NDArray[np.float64]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: lists of floats with ``None`` for NaN/inf.

        ``segment_stability`` keys become strings (JSON object keys).

        Returns
        -------
        dict

        Examples
        --------
        >>> from clustomer.segment.criteria import k_criteria, kmeans_fit_labels
        >>> crit = k_criteria(np.zeros((3, 2)), [2], kmeans_fit_labels(n_init=1))
        >>> crit.to_dict()["segment_stability"], crit.to_dict()["chosen_k"]
        ({}, 1)
        """
        return {
            "ks": [int(k) for k in self.ks],
            "inertia": _json_list(self.inertia),
            "silhouette": _json_list(self.silhouette),
            "calinski_harabasz": _json_list(self.calinski_harabasz),
            "davies_bouldin": _json_list(self.davies_bouldin),
            "gap": _json_list(self.gap),
            "gap_se": _json_list(self.gap_se),
            "gap_1": _json_float(self.gap_1),
            "gap_se_1": _json_float(self.gap_se_1),
            "stability": _json_list(self.stability),
            "segment_stability": {
                str(k): _json_list(v) for k, v in sorted(self.segment_stability.items())
            },
            "elbow_k": self.elbow_k,
            "gap_k": self.gap_k,
            "best_silhouette_k": self.best_silhouette_k,
            "chosen_k": int(self.chosen_k),
            "reason": self.reason,
            "sample_size": int(self.sample_size),
            "n_boot": int(self.n_boot),
            "n_refs": int(self.n_refs),
            "forced": bool(self.forced),
            "requested_ks": [int(k) for k in self.requested_ks],
            "ref_size": int(self.ref_size),
            "boot_size": int(self.boot_size),
            "gap_reference": self.gap_reference,
            "centers": {
                str(k): [_json_list(row) for row in np.asarray(c, dtype=np.float64)]
                for k, c in sorted(self.centers.items())
            },
        }


def _json_float(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _json_list(values: Iterable[float]) -> list[float | None]:
    return [_json_float(v) for v in values]


def _argbest(ks: Sequence[int], values: Sequence[float], ndigits: int | None = None) -> int | None:
    """The k with the highest finite value (first, i.e. smallest k, on ties)."""
    best: int | None = None
    best_value = -math.inf
    for k, v in zip(ks, values, strict=True):
        if not math.isfinite(v):
            continue
        key = round(v, ndigits) if ndigits is not None else v
        if key > best_value:
            best, best_value = int(k), key
    return best


def _cross_check(crit: KCriteria, k: int) -> str:
    elbow, gap_k = crit.elbow_k, crit.gap_k
    if elbow == k and gap_k == k:
        return "the elbow and the gap statistic agree"
    if elbow is None:
        elbow_part = "the inertia curve has no clear elbow"
    elif elbow == k:
        elbow_part = "the elbow agrees"
    else:
        elbow_part = f"the elbow suggests {elbow}"
    if crit.n_refs == 0 or not crit.ks:
        gap_part = "the gap statistic was not computed"
    elif gap_k is None:
        gap_part = f"the gap statistic still rises at k = {crit.ks[-1]}"
    elif gap_k == k:
        gap_part = "the gap statistic agrees"
    elif gap_k == 1:
        gap_part = "the gap statistic suggests 1 (no cluster structure)"
    else:
        gap_part = f"the gap statistic suggests {gap_k}"
    return f"{elbow_part}, {gap_part}"


def _rule(crit: KCriteria) -> tuple[int, str, bool]:
    """The chosen k, its sentence, and whether the cross-check should follow it."""
    ks = crit.ks
    if not ks:
        return (
            1,
            "k = 1: all sampled customers have the same feature values, so there is one segment",
            False,
        )
    sil = crit.silhouette
    finite_sil = [s for s in sil if math.isfinite(s)]
    has_stab = any(math.isfinite(v) for v in crit.stability)
    if finite_sil and has_stab:
        best = max(finite_sil)
        near = [
            i
            for i, s in enumerate(sil)
            if math.isfinite(s) and s >= best - SILHOUETTE_MARGIN - 1e-12
        ]
        chosen = _argbest([ks[i] for i in near], [crit.stability[i] for i in near], ndigits=2)
        if chosen is not None:
            stab = crit.stability[ks.index(chosen)]
            head = (
                f"k = {chosen}: the highest stability ({stab:.2f}) among the k with a "
                f"silhouette within {SILHOUETTE_MARGIN:.2f} of the best"
            )
            return chosen, head, True
    if finite_sil:
        chosen = _argbest(ks, sil)
        assert chosen is not None
        s = sil[ks.index(chosen)]
        why = "stability was not assessed" if crit.n_boot == 0 else "no stability could be computed"
        return chosen, f"k = {chosen}: the best silhouette ({s:.2f}); {why}", True
    if has_stab:
        chosen = _argbest(ks, crit.stability, ndigits=2)
        assert chosen is not None
        stab = crit.stability[ks.index(chosen)]
        return (
            chosen,
            f"k = {chosen}: the highest stability ({stab:.2f}); no silhouette could be computed",
            True,
        )
    if crit.elbow_k is not None:
        return (
            crit.elbow_k,
            f"k = {crit.elbow_k}: the elbow of the inertia curve; "
            "neither silhouette nor stability could be computed",
            False,
        )
    return (
        ks[0],
        f"k = {ks[0]}: too few customers to compare segmentations, "
        "so the smallest candidate was used",
        False,
    )


def choose_from_criteria(crit: KCriteria, forced_k: int | None = None) -> tuple[int, str]:
    """Apply the rule of the module notes to computed criteria.

    Parameters
    ----------
    crit : KCriteria
        Its ``chosen_k``, ``reason`` and ``forced`` are ignored.
    forced_k : int, optional
        A *k* set by the user; it is returned as is, with a sentence that says what the
        rule would have picked.

    Returns
    -------
    chosen_k : int
    reason : str

    Examples
    --------
    >>> crit = KCriteria(
    ...     ks=[2, 3, 4, 5], inertia=[100.0, 40.0, 20.0, 17.0],
    ...     silhouette=[0.50, 0.61, 0.62, 0.55], calinski_harabasz=[1.0] * 4,
    ...     davies_bouldin=[1.0] * 4, gap=[0.2, 0.5, 0.6, 0.6], gap_se=[0.05] * 4,
    ...     stability=[0.99, 0.93, 0.80, 0.7], segment_stability={}, elbow_k=3, gap_k=4,
    ...     best_silhouette_k=4, chosen_k=0, reason="", sample_size=500, n_boot=5, n_refs=5)
    >>> choose_from_criteria(crit)[1]
    'k = 3: the highest stability (0.93) among the k with a silhouette within 0.02 of the best; the elbow agrees, the gap statistic suggests 4'
    >>> choose_from_criteria(crit, forced_k=5)[1]
    'k = 5 as asked; the rule would pick 3 (the highest stability (0.93) among the k with a silhouette within 0.02 of the best; the elbow agrees, the gap statistic suggests 4)'
    """  # noqa: E501
    chosen, reason, cross_check = _rule(crit)
    if cross_check:
        reason = f"{reason}; {_cross_check(crit, chosen)}"
    if crit.ks and any(k > crit.ks[-1] for k in crit.requested_ks if k != forced_k):
        reason = (
            f"{reason}; k was capped at {crit.ks[-1]} by the {crit.sample_size} sampled customers"
        )
    if forced_k is None:
        return chosen, reason
    forced = int(forced_k)
    rest = reason.split(": ", 1)[1]
    if forced == chosen:
        return forced, f"k = {forced} as asked, which the rule would pick too ({rest})"
    return forced, f"k = {forced} as asked; the rule would pick {chosen} ({rest})"
