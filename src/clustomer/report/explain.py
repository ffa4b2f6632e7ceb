"""Explanations and migration, as plain data for the report.

:func:`summarize_details` reads a run's ``details`` (what ``Workspace.segment`` stores:
the feature set, the rules of a surrogate decision tree, their fidelity, the classifier's
cross-validated accuracy) and :func:`summarize_migration` reads a
:meth:`clustomer.segment.compare.RunComparison.to_dict`. Both tolerate missing parts and
return only counts, names and sentences, never customer keys.

Examples
--------
>>> d = summarize_details({"fidelity": 0.934, "rules_text": "# rules"})
>>> d["fidelity_sentence"]
'These rules place 93% of customers in the same segment as the clustering.'
>>> summarize_details(None)["rules"], summarize_migration(None)
([], None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clustomer.report.common import feature_label, float_or_none, int_or_none, pct_text, plain

#: What each feature group (``--features``) brings in.
GROUP_DESCRIPTIONS: dict[str, str] = {
    "rfm": "recency, frequency and spend",
    "behaviour": "tenure, average order, returns and product variety",
    "products": "share of spend per product topic (found in the product names)",
    "demographics": "customer attributes such as age, income or country",
}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else []


def _pruned_message(p: Mapping[str, Any]) -> str:
    if p.get("message"):
        return str(p["message"])
    column, reason = str(p.get("column") or "?"), p.get("reason")
    if reason == "constant":
        return f"{column} left out: it is the same for every customer"
    if reason == "empty":
        return f"{column} left out: it has no values"
    corr = float_or_none(p.get("correlation"))
    how = "moves opposite to" if corr is not None and corr < 0 else "moves with"
    tail = "" if corr is None else f" (correlation {corr:.2f})"
    return f"{column} left out: it {how} {p.get('because_of') or 'another feature'}{tail}"


def _features(features: Mapping[str, Any]) -> dict[str, Any] | None:
    if not features:
        return None
    names = {str(k): str(v) for k, v in _mapping(features.get("column_names")).items()}
    groups = [
        {"name": str(g), "description": GROUP_DESCRIPTIONS.get(str(g), "")}
        for g in _sequence(features.get("groups"))
    ]
    columns = [
        {"column": str(c), "label": feature_label(str(c), names)}
        for c in _sequence(features.get("columns"))
    ]
    pruned = [
        {
            "column": str(p.get("column") or ""),
            "because_of": plain(p.get("because_of")),
            "correlation": float_or_none(p.get("correlation")),
            "reason": plain(p.get("reason")),
            "message": _pruned_message(p),
        }
        for p in (_mapping(x) for x in _sequence(features.get("pruned")))
    ]
    said = {p["message"] for p in pruned}
    messages = [str(m) for m in _sequence(features.get("messages")) if str(m) not in said]
    topics_data: Any = features.get("topics")
    topic_rows = _sequence(
        topics_data.get("topics") if isinstance(topics_data, Mapping) else topics_data
    )
    topics = [
        {
            "name": str(t.get("name") or t.get("topic") or ""),
            "top_words": [str(w) for w in _sequence(t.get("top_words"))],
            "share_of_spend": float_or_none(t.get("share_of_spend")),
        }
        for t in (_mapping(x) for x in topic_rows)
    ]
    unassigned_share = (
        float_or_none(topics_data.get("unassigned_share"))
        if isinstance(topics_data, Mapping)
        else None
    )
    return {
        "groups": groups,
        "columns": columns,
        "pruned": pruned,
        "messages": messages,
        "topics": topics,
        "topics_unassigned_share": unassigned_share,
    }


def _rule(row: Mapping[str, Any], name: str) -> dict[str, Any]:
    text = str(row.get("text") or "")
    prefix = f"{name}: "
    return {
        "text": text,
        "condition": text[len(prefix) :] if text.startswith(prefix) else text,
        "support": int_or_none(row.get("support")),
        "covered": int_or_none(row.get("covered")),
        "precision": float_or_none(row.get("precision")),
    }


def _rules(rules: Any) -> list[dict[str, Any]]:
    """Rules per segment from ``SegmentRules.to_dict()`` (nested) or flat rule rows."""
    data = _mapping(rules)
    nested = _sequence(data.get("segments"))
    if nested:
        out = []
        for seg in (_mapping(s) for s in nested):
            sid = int_or_none(seg.get("segment_id"))
            name = str(seg.get("segment_name") or f"Segment {sid}")
            out.append(
                {
                    "segment_id": sid,
                    "segment_name": name,
                    "size": int_or_none(seg.get("size")),
                    "fidelity": float_or_none(seg.get("fidelity")),
                    "rules": [_rule(_mapping(r), name) for r in _sequence(seg.get("rules"))],
                }
            )
        return out
    flat = _sequence(data.get("rules")) if data else _sequence(rules)
    per_segment = {str(k): v for k, v in _mapping(data.get("per_segment_fidelity")).items()}
    sizes = {str(k): v for k, v in _mapping(data.get("segment_sizes")).items()}
    grouped: dict[int | None, dict[str, Any]] = {}
    for row in (_mapping(r) for r in flat):
        sid = int_or_none(row.get("segment_id"))
        name = str(row.get("segment_name") or f"Segment {sid}")
        seg = grouped.setdefault(
            sid,
            {
                "segment_id": sid,
                "segment_name": name,
                "size": int_or_none(sizes.get(str(sid))),
                "fidelity": float_or_none(per_segment.get(str(sid))),
                "rules": [],
            },
        )
        seg["rules"].append(_rule(row, name))
    return list(grouped.values())


def _classifier(clf: Mapping[str, Any]) -> dict[str, Any] | None:
    accuracy = float_or_none(clf.get("cv_accuracy"))
    if not clf or accuracy is None:
        return None
    std = float_or_none(clf.get("cv_accuracy_std"))
    model = str(clf.get("model") or "a classifier")
    sentence = (
        f"A classifier ({model}) learned each customer's segment from their features; on "
        f"customers it had not seen (cross-validation) it picks the same segment as the "
        f"clustering {pct_text(accuracy)} of the time"
    )
    if std is not None:
        sentence += f" (± {100 * std:.1f} points between folds)"
    return {
        "model": model,
        "cv_accuracy": accuracy,
        "cv_accuracy_std": std,
        "sentence": sentence + ".",
    }


def summarize_details(
    details: Mapping[str, Any] | None, *, n_clustered: int | None = None
) -> dict[str, Any]:
    """The explanation parts of a run's ``details`` as plain data.

    Parameters
    ----------
    details : mapping or None
        ``{"features": FeatureSet.to_dict(), "rules": SegmentRules.to_dict(),
        "rules_text": str, "fidelity": float, "classifier": {"model", "cv_accuracy",
        "cv_accuracy_std"}, "explained_on": int, "note": str}``; every part optional.
    n_clustered : int, optional
        Customers that were clustered; when the rules were learned on fewer, the
        fidelity sentence says they were measured on a sample.

    Returns
    -------
    dict
        ``features`` (None or ``{groups, columns, pruned, messages, topics,
        topics_unassigned_share}``), ``rules`` (list per segment: ``segment_id,
        segment_name, size, fidelity, rules``), ``fidelity``, ``fidelity_sentence``,
        ``rules_text``, ``classifier`` (None or ``{model, cv_accuracy, cv_accuracy_std,
        sentence}``), ``explained_on`` and ``note``.

    Examples
    --------
    >>> d = summarize_details({"classifier": {"model": "M", "cv_accuracy": 0.97,
    ...                                       "cv_accuracy_std": 0.012}})
    >>> d["classifier"]["sentence"]  # doctest: +NORMALIZE_WHITESPACE
    "A classifier (M) learned each customer's segment from their features; on customers
    it had not seen (cross-validation) it picks the same segment as the clustering 97% of
    the time (± 1.2 points between folds)."
    """
    data = _mapping(details)
    rules_data = data.get("rules")
    fidelity = float_or_none(data.get("fidelity"))
    if fidelity is None:
        fidelity = float_or_none(_mapping(rules_data).get("fidelity"))
    explained_on = int_or_none(data.get("explained_on"))
    sentence = None
    if fidelity is not None:
        sentence = (
            f"These rules place {pct_text(fidelity)} of customers in the same segment as "
            "the clustering"
        )
        if explained_on is not None and n_clustered is not None and explained_on < n_clustered:
            sentence += f" (measured on a sample of {explained_on:,} customers)"
        sentence += "."
    rules_text = data.get("rules_text")
    return {
        "features": _features(_mapping(data.get("features"))),
        "rules": _rules(rules_data),
        "fidelity": fidelity,
        "fidelity_sentence": sentence,
        "rules_text": str(rules_text) if rules_text else None,
        "classifier": _classifier(_mapping(data.get("classifier"))),
        "explained_on": explained_on,
        "note": str(data["note"]) if data.get("note") else None,
    }


def summarize_migration(migration: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A run comparison (``RunComparison.to_dict()``) as plain data, or ``None``.

    Parameters
    ----------
    migration : mapping or None
        ``before_name, after_name, matrix: {rows, columns, counts}, sentences, stayed,
        moved, new, gone, share_stayed, summary``.

    Returns
    -------
    dict or None
        The same keys with the matrix flattened (``rows``, ``columns``, ``counts``: one
        list of ints per row, missing cells 0) plus ``row_totals``, ``column_totals``
        and ``total``. ``None`` when there is no matrix.

    Examples
    --------
    >>> m = summarize_migration({"matrix": {"rows": ["Loyal", "(new)"],
    ...     "columns": ["Loyal", "At risk"], "counts": [[3, 1], [2]]},
    ...     "sentences": ["1 Loyal customer became At risk"]})
    >>> m["counts"], m["row_totals"], m["column_totals"], m["total"]
    ([[3, 1], [2, 0]], [4, 2], [5, 1], 6)
    """
    data = _mapping(migration)
    matrix = _mapping(data.get("matrix"))
    rows = [str(r) for r in _sequence(matrix.get("rows"))]
    columns = [str(c) for c in _sequence(matrix.get("columns"))]
    if not rows or not columns:
        return None
    raw = list(_sequence(matrix.get("counts")))
    counts = []
    for i in range(len(rows)):
        cells = list(_sequence(raw[i])) if i < len(raw) else []
        values = [int_or_none(v) or 0 for v in cells[: len(columns)]]
        counts.append(values + [0] * (len(columns) - len(values)))
    column_totals = [sum(row[j] for row in counts) for j in range(len(columns))]
    return {
        "before_name": str(data.get("before_name") or "the previous run"),
        "after_name": str(data.get("after_name") or "this run"),
        "rows": rows,
        "columns": columns,
        "counts": counts,
        "row_totals": [sum(row) for row in counts],
        "column_totals": column_totals,
        "total": sum(column_totals),
        "sentences": [str(s) for s in _sequence(data.get("sentences"))],
        "summary": str(data["summary"]) if data.get("summary") else None,
        "stayed": int_or_none(data.get("stayed")),
        "moved": int_or_none(data.get("moved")),
        "new": int_or_none(data.get("new")),
        "gone": int_or_none(data.get("gone")),
        "share_stayed": float_or_none(data.get("share_stayed")),
    }
