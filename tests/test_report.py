"""Tests of the run report: summary data, figures and the self-contained HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest

from clustomer.errors import ClustomerError
from clustomer.report.html import plotly_js, render_report, write_report
from clustomer.report.plots import (
    k_selection_figure,
    projection_figure,
    rfm_figure,
    segments_figure,
)
from clustomer.report.summarize import MAX_REJECTS, summarize_import, summarize_run
from clustomer.segment.result import KSelection, SegmentationResult

EVIL = "<script>alert(1)</script>"
KEYS = ["alice@example.com", "bob@example.org", "carol@shop.test", "dave@shop.test", "eve@x.io"]


def make_result(first_name: str = "Loyal big spenders") -> SegmentationResult:
    assignments = pd.DataFrame(
        {
            "customer_key": KEYS,
            "segment_id": [0, 0, 1, 2, -1],
            "segment_name": [first_name, first_name, EVIL, "Lapsed", "No purchases"],
            "rfm_segment": ["Champions", "Champions", "At risk", "Hibernating", "Hibernating"],
        }
    )
    profiles = pd.DataFrame(
        {
            "segment_id": [0, 1, 2],
            "name": [first_name, EVIL, "Lapsed"],
            "description": ["Order often & spend a lot", "Made-up <b>bold</b>", "Gone quiet"],
            "size": [2, 1, 1],
            "share_customers": [0.5, 0.25, 0.25],
            "share_revenue": [0.8, 0.15, 0.05],
            "median_recency_days": [12.6, 90.0, 301.2],
            "median_frequency": [7.0, 2.5, 1.0],
            "median_monetary": [1234567.891, 250.0, 19.99],
            "median_return_rate": [0.05, 0.0, float("nan")],
        }
    )
    projection = pd.DataFrame(
        {
            "customer_key": KEYS[:4],
            "segment_id": [0, 0, 1, 2],
            "x": [1.234567, 1.1, -0.5, -2.0],
            "y": [0.5, 0.45, 2.0, -1.0],
        }
    )
    rfm_counts = pd.DataFrame(
        {
            "rfm_segment": ["Champions", "At risk", "Hibernating"],
            "customers": [2, 1, 2],
            "share_customers": [0.4, 0.2, 0.4],
            "share_revenue": [0.8, 0.15, 0.05],
        }
    )
    k_selection = KSelection(
        ks=[2, 3, 4, 5],
        inertia=[100.0, 60.0, 45.0, 40.0],
        silhouette=[0.41, 0.47, 0.38, 0.30],
        elbow_k=3,
        best_silhouette_k=3,
        chosen_k=3,
        reason="3 segments: the elbow of the inertia curve and the best silhouette agree.",
        sample_size=5,
    )
    return SegmentationResult(
        assignments=assignments,
        profiles=profiles,
        k_selection=k_selection,
        projection=projection,
        feature_columns=["recency_days", "frequency", "monetary", "return_rate"],
        rfm_counts=rfm_counts,
        explained_variance=[0.523, 0.211],
    )


def make_imports() -> list[dict[str, Any]]:
    balanced = {
        "import_id": 1,
        "file": "online_retail.parquet",
        "layout": "online_retail",
        "rows_read": 541909,
        "rows_kept": 401564,
        "rows_dropped": {
            "missing customer": 135080,
            "non-positive price": 40,
            "duplicate line": 5225,
        },
        "customers": 4372,
        "orders": 22190,
        "revenue": 9747747.93,
        "revenue_kept": 8278519.42,
        "revenue_dropped": {"missing customer": 1447682.12, "duplicate line": 21546.39},
        "cancellation_lines": 9288,
        "currency": "GBP",
        "rejects": [
            {"line": 12, "column": "Quantity", "value": "abc", "message": "not a number"},
            {"line": 40, "column": "CustomerID", "value": KEYS[0], "message": "bad id"},
        ],
        "imported_at": "2026-11-27T11:00:00+00:00",
        "already_imported": False,
    }
    unbalanced = {
        "import_id": 2,
        "file": EVIL + ".csv",
        "layout": "generic",
        "rows_read": 100,
        "rows_kept": 90,
        "rows_dropped": {"missing customer": 7},
        "currency": "GBP",
        "rejects": [
            {"line": i + 2, "column": "Price", "value": "x", "message": EVIL} for i in range(30)
        ],
        "already_imported": True,
    }
    return [balanced, unbalanced]


RUN = {
    "run_id": 3,
    "created_at": "2026-11-27T11:05:00+00:00",
    "as_of": "2011-12-10",
    "n_customers": 5,
    "method": "kmeans",
    "currency": "GBP",
    "timings": {"features": 0.12, "cluster": 0.5},
}


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return summarize_run(
        make_result(), imports=make_imports(), run=RUN, generated_at="2026-11-27T12:00:00+00:00"
    )


@pytest.fixture(scope="module")
def html(summary: dict[str, Any]) -> str:
    return render_report(summary)


def _walk(value: Any) -> list[Any]:
    """Every value and every key in a nested structure."""
    out = [value]
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(k)
            out.extend(_walk(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_walk(v))
    return out


# --- summary -------------------------------------------------------------------------


def test_summary_is_plain_json(summary: dict[str, Any]) -> None:
    allowed = (str, int, float, bool, type(None), list, dict)
    bad = [v for v in _walk(summary) if type(v) not in allowed]
    assert bad == []
    assert all(isinstance(k, str) for v in _walk(summary) if isinstance(v, dict) for k in v)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_summary_has_no_customer_keys(summary: dict[str, Any]) -> None:
    text = json.dumps(summary)
    for key in KEYS:
        assert key not in text
    assert "customer_key" not in text
    assert all(set(p) == {"x", "y", "segment"} for p in summary["projection"])


def test_import_accounting_reconciles(summary: dict[str, Any]) -> None:
    first, second = summary["imports"]
    assert first["rows_dropped_total"] == 135080 + 40 + 5225
    assert first["reconciled"] is True
    assert first["unaccounted_rows"] == 0
    assert [d["reason"] for d in first["drops"]] == [
        "missing customer",
        "non-positive price",
        "duplicate line",
    ]
    assert first["drops"][0] == {
        "reason": "missing customer",
        "rows": 135080,
        "revenue": 1447682.12,
    }
    assert first["drops"][1]["revenue"] is None
    assert first["revenue_unaccounted"] == 0.0

    assert second["reconciled"] is False
    assert second["unaccounted_rows"] == 3
    assert second["already_imported"] is True
    assert summary["accounting_ok"] is False


def test_accounting_ok_when_every_import_reconciles() -> None:
    s = summarize_run(make_result(), imports=make_imports()[:1], run=RUN)
    assert s["accounting_ok"] is True


def test_import_without_counts_is_not_checked() -> None:
    s = summarize_import({"file": "a.csv", "rows_dropped": {"x": 1}})
    assert s["reconciled"] is None
    assert s["unaccounted_rows"] is None


def test_more_rows_accounted_than_read_is_flagged() -> None:
    s = summarize_import({"rows_read": 10, "rows_kept": 9, "rows_dropped": {"dup": 2}})
    assert s["reconciled"] is False
    assert s["unaccounted_rows"] == -1


def test_rejects_are_capped_and_carry_no_values(summary: dict[str, Any]) -> None:
    first, second = summary["imports"]
    assert first["rejects"][0] == {"line": 12, "column": "Quantity", "message": "not a number"}
    assert len(second["rejects"]) == MAX_REJECTS
    assert second["rejects_total"] == 30
    assert all("value" not in r for imp in summary["imports"] for r in imp["rejects"])


def test_segments_from_profiles(summary: dict[str, Any]) -> None:
    segs = summary["segments"]
    assert [s["name"] for s in segs] == ["Loyal big spenders", EVIL, "Lapsed"]
    assert [s["size"] for s in segs] == [2, 1, 1]
    assert segs[0]["share_revenue"] == 0.8
    assert segs[0]["medians"]["monetary"] == pytest.approx(1234567.891)
    assert segs[2]["medians"]["return_rate"] is None  # NaN becomes None
    assert [m["feature"] for m in summary["median_columns"]] == [
        "recency_days",
        "frequency",
        "monetary",
        "return_rate",
    ]
    assert summary["unassigned_customers"] == 1


def test_projection_rfm_and_k_selection(summary: dict[str, Any]) -> None:
    proj = summary["projection"]
    assert len(proj) == 4
    assert proj[0] == {"x": 1.2346, "y": 0.5, "segment": "Loyal big spenders"}
    assert [p["segment"] for p in proj].count(EVIL) == 1
    assert summary["explained_variance"] == [0.523, 0.211]
    assert [r["customers"] for r in summary["rfm"]] == [2, 1, 2]
    ks = summary["k_selection"]
    assert ks["chosen_k"] == 3 and ks["ks"] == [2, 3, 4, 5]
    assert ks["reason"].startswith("3 segments")
    assert summary["run"]["as_of"] == "2011-12-10"
    assert summary["run"]["total_seconds"] == pytest.approx(0.62)
    assert summary["generated_at"] == "2026-11-27T12:00:00+00:00"


# --- figures -------------------------------------------------------------------------


def test_k_selection_figure_marks_elbow_and_choice(summary: dict[str, Any]) -> None:
    fig = k_selection_figure(summary)
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert names[:2] == ["Inertia (lower is tighter)", "Silhouette (higher is better)"]
    elbow = next(t for t in fig.data if t.name == "Elbow")
    assert list(elbow.x) == [3] and list(elbow.y) == [60.0]
    assert [s.x0 for s in fig.layout.shapes] == [3]
    assert fig.data[1].yaxis == "y2"


def test_k_selection_figure_when_k_was_fixed() -> None:
    fig = k_selection_figure({"k_selection": {"ks": [], "chosen_k": 4}})
    assert len(fig.data) == 0
    assert "fixed at 4" in fig.layout.annotations[0].text


def test_segments_and_rfm_figures(summary: dict[str, Any]) -> None:
    fig = segments_figure(summary)
    assert isinstance(fig, go.Figure)
    assert fig.layout.barmode == "group"
    assert list(fig.data[0].y) == [50.0, 25.0, 25.0]
    assert list(fig.data[1].y) == pytest.approx([80.0, 15.0, 5.0])
    rfm = rfm_figure(summary)
    assert isinstance(rfm, go.Figure)
    assert sorted(zip(rfm.data[0].y, rfm.data[0].x, strict=True)) == [
        ("At risk", 1),
        ("Champions", 2),
        ("Hibernating", 2),
    ]


def test_projection_figure(summary: dict[str, Any]) -> None:
    fig = projection_figure(summary)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["Loyal big spenders", EVIL, "Lapsed"]
    assert fig.layout.xaxis.title.text == "Component 1 (52.3% of variance)"
    assert fig.layout.yaxis.title.text == "Component 2 (21.1% of variance)"
    assert len({t.marker.color for t in fig.data}) == 3


# --- HTML ----------------------------------------------------------------------------


def test_html_sections(html: str) -> None:
    for title in (
        "What happened to every row",
        "How many segments",
        "Segments",
        "RFM segments",
        "Map of customers",
    ):
        assert f"<h2>{title}</h2>" in html
    assert html.startswith("<!DOCTYPE html>")
    assert html.rstrip().endswith("</html>")
    assert "3 segments: the elbow of the inertia curve" in html
    for element in ("plot-k", "plot-segments", "plot-rfm", "plot-map"):
        assert f'<div id="{element}" class="plot"></div>' in html
        assert f'"{element}": {{"data":' in html


def test_html_numbers_are_formatted(html: str) -> None:
    assert "541,909" in html  # rows read
    assert "135,080" in html  # dropped rows
    assert '<td class="num">9,747,747.93</td>' in html  # revenue: 2 decimals, separators
    assert '<td class="num">1,447,682.12</td>' in html
    assert '<td class="num">1,234,567.89</td>' in html  # median money
    assert '<td class="num">19.99</td>' in html
    assert '<td class="num">13</td>' in html  # 12.6 days shown as a whole number
    assert '<td class="num">301</td>' in html
    assert '<td class="num">2.5</td>' in html  # median orders
    assert "80.0%" in html and "5.0%" in html
    assert "every row accounted for" in html
    assert "3 rows unaccounted for" in html
    assert "30 lines could not be read (first 20 shown)" in html
    assert "2026-11-27 11:00 UTC" in html
    assert "1 customer only returned goods and has no segment" in html


def test_html_escapes_values_from_data(html: str) -> None:
    assert EVIL not in html
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # segment name, file name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in html
    assert "Made-up &lt;b&gt;bold&lt;/b&gt;" in html
    assert "Order often &amp; spend a lot" in html
    # the only <script> tags are the two the template writes
    assert html.count("<script") == 2


def test_html_has_no_customer_keys(html: str) -> None:
    for key in KEYS:
        assert key not in html


def test_html_is_self_contained(html: str) -> None:
    bundle = plotly_js()
    assert len(bundle) > 1_000_000
    assert html.count(bundle) == 1
    assert html.count("Plotly.newPlot(") == 1  # one loop draws every figure
    # plotly.js itself names some map-tile servers; nothing else may name any URL
    rest = html.replace(bundle, "")
    assert "cdn" not in rest.lower()
    assert not re.search(r"https?://", rest)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", rest)
    assert 'src="http' not in html
    assert "<link" not in rest
    assert "@import" not in rest
    assert "default-src 'none'" in rest  # the browser may not fetch anything


def test_render_from_json_round_trip(summary: dict[str, Any], html: str) -> None:
    assert render_report(json.loads(json.dumps(summary))) == html


def test_render_minimal_summary() -> None:
    empty = make_result()
    empty.projection = empty.projection.iloc[0:0]
    empty.explained_variance = []
    text = render_report(summarize_run(empty, imports=[], run={}))
    assert "No import details were recorded" in text
    assert "No customers to map." in text


def test_write_report(tmp_path: Path, summary: dict[str, Any], html: str) -> None:
    out = write_report(summary, tmp_path / "nested" / "report.html")
    assert out == tmp_path / "nested" / "report.html"
    assert out.read_text(encoding="utf-8") == html
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left


def test_write_report_to_unwritable_path(tmp_path: Path, summary: dict[str, Any]) -> None:
    (tmp_path / "report.html").mkdir()
    with pytest.raises(ClustomerError, match="cannot write the report"):
        write_report(summary, tmp_path / "report.html")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_refund_lines_added_are_shown() -> None:
    imports = make_imports()
    imports[0]["extra_lines"] = 13
    data = summarize_run(make_result(), imports=imports, run={"run_id": 1})
    assert data["imports"][0]["extra_lines"] == 13
    assert re.search(r"Refund lines added.*?>13<", render_report(data), re.S)
    imports[0]["extra_lines"] = 0
    quiet = render_report(summarize_run(make_result(), imports=imports, run={"run_id": 1}))
    assert "Refund lines added" not in quiet


# --- segmentation depth: criteria, method, stability, unassigned, probabilities ------

RICH_KEYS = [f"cust{i}@example.com" for i in range(8)]
REASON = (
    "k = 3: the highest stability (0.93) among the k with a silhouette within 0.02 of the "
    "best; the elbow suggests 4, the gap statistic agrees"
)


def make_criteria() -> dict[str, Any]:
    """The shape of ``KCriteria.to_dict()`` (None and NaN both mark undefined values)."""
    return {
        "ks": [2, 3, 4, 5],
        "inertia": [100.0, 60.0, 45.0, 40.0],
        "silhouette": [0.46, 0.47, 0.45, 0.30],
        "calinski_harabasz": [120.0, 150.0, 140.0, None],
        "davies_bouldin": [0.9, 0.7, float("nan"), 0.8],
        "gap": [0.2, 0.5, 0.52, 0.5],
        "gap_se": [0.05, 0.04, 0.05, 0.06],
        "gap_1": 0.0,
        "gap_se_1": 0.03,
        "stability": [0.8, 0.93, 0.7, 0.6],
        "segment_stability": {"3": [0.93, 0.41, None]},
        "elbow_k": 4,
        "gap_k": 3,
        "best_silhouette_k": 3,
        "chosen_k": 3,
        "reason": REASON,
        "sample_size": 8,
        "n_boot": 20,
        "n_refs": 10,
        "forced": False,
        "requested_ks": [2, 3, 4, 5],
        "centers": {"3": [[0.123456789, 1.0], [1.0, 0.0], [2.0, 2.0]]},
    }


def make_rich_result() -> SegmentationResult:
    """A gmm run: every k criterion, segment stability, membership probabilities."""
    result = make_result("Loyal")
    result.assignments = pd.DataFrame(
        {
            "customer_key": RICH_KEYS,
            "segment_id": [0, 0, 0, 1, 1, 2, 2, -1],
            "segment_name": ["Loyal"] * 3 + [EVIL] * 2 + ["Lapsed"] * 2 + ["Returns only"],
            "rfm_segment": ["Champions"] * 8,
            "probability": [0.99, 0.95, 0.7, 0.6, 0.85, 0.9, 0.92, float("nan")],
        }
    )
    result.profiles = result.profiles.assign(
        size=[3, 2, 2],
        stability=[0.93, 0.41, float("nan")],
        unstable=[False, True, False],
    )
    result.projection = result.projection.assign(customer_key=RICH_KEYS[:4])
    result.k_selection = KSelection(
        ks=[2, 3, 4, 5],
        inertia=[100.0, 60.0, 45.0, 40.0],
        silhouette=[0.46, 0.47, 0.45, 0.30],
        elbow_k=4,
        best_silhouette_k=3,
        chosen_k=3,
        reason=REASON,
        sample_size=8,
        criteria=make_criteria(),
        segment_stability=[0.93, 0.41, None],
    )
    result.method = "gmm"
    return result


PRUNED_MESSAGE = "avg_order_value left out: it moves with monetary (Spearman 0.93)"


def make_details() -> dict[str, Any]:
    """The shape of a run's ``details``: feature set, rules, fidelity, classifier."""
    return {
        "features": {
            "groups": ["rfm", "products"],
            "columns": ["recency_days", "frequency", "monetary", "topic_0"],
            "pruned": [
                {
                    "column": "avg_order_value",
                    "because_of": "monetary",
                    "correlation": 0.93,
                    "reason": "correlated",
                    "method": "spearman",
                    "message": PRUNED_MESSAGE,
                }
            ],
            "messages": [PRUNED_MESSAGE, "no customer attributes found"],
            "topics": {
                "n_topics": 2,
                "topics": [
                    {
                        "topic": "topic_0",
                        "name": "bag / lunch / jumbo",
                        "top_words": ["bag", "lunch", "jumbo"],
                        "share_of_spend": 0.6,
                    },
                    {
                        "topic": "topic_1",
                        "name": EVIL,
                        "top_words": ["tea", "light"],
                        "share_of_spend": 0.4,
                    },
                ],
                "unassigned_share": 0.05,
            },
            "column_names": {"topic_0": "topic_0 (bag / lunch / jumbo)"},
        },
        "rules": {
            "fidelity": 0.93,
            "max_depth": 4,
            "segments": [
                {
                    "segment_id": 0,
                    "segment_name": "Loyal",
                    "size": 3,
                    "fidelity": 1.0,
                    "rules": [
                        {
                            "rule_id": 1,
                            "conditions": [{"feature": "frequency", "op": ">=", "value": 6}],
                            "text": "Loyal: at least 6 orders",
                            "support": 3,
                            "covered": 3,
                            "precision": 1.0,
                        }
                    ],
                },
                {
                    "segment_id": 1,
                    "segment_name": EVIL,
                    "size": 2,
                    "fidelity": 0.5,
                    "rules": [
                        {
                            "rule_id": 2,
                            "conditions": [],
                            "text": f"{EVIL}: spent less than £100",
                            "support": 4,
                            "covered": 2,
                            "precision": 0.5,
                        }
                    ],
                },
                {
                    "segment_id": 2,
                    "segment_name": "Lapsed",
                    "size": 2,
                    "fidelity": 0.0,
                    "rules": [],
                },
            ],
        },
        "rules_text": "# Loyal (segment 0, 3 customers)\nfrequency >= 6\n# " + EVIL,
        "fidelity": 0.934,
        "classifier": {
            "model": "HistGradientBoostingClassifier",
            "cv_accuracy": 0.9712,
            "cv_accuracy_std": 0.0123,
        },
        "explained_on": 7,
    }


def make_migration() -> dict[str, Any]:
    from clustomer.segment.compare import compare_runs

    before = pd.DataFrame(
        {"customer_key": RICH_KEYS[:6], "segment_name": ["Loyal"] * 4 + ["Lapsed"] * 2}
    )
    after = pd.DataFrame(
        {
            "customer_key": RICH_KEYS[1:7],
            "segment_name": ["Loyal", EVIL, EVIL, "Loyal", "Lapsed", "Lapsed"],
        }
    )
    return compare_runs(before, after, before_name="May", after_name="June").to_dict()


RICH_RUN = {**RUN, "method": "gmm", "n_customers": 8}


@pytest.fixture(scope="module")
def rich() -> dict[str, Any]:
    run = {**RICH_RUN, "details": make_details(), "migration": make_migration()}
    return summarize_run(make_rich_result(), imports=[], run=run, generated_at="2026-12-01")


@pytest.fixture(scope="module")
def rich_html(rich: dict[str, Any]) -> str:
    return render_report(rich)


def make_density_result() -> SegmentationResult:
    """An hdbscan run: k found by the method, two customers left unassigned (-2)."""
    result = make_result()
    result.assignments = result.assignments.assign(
        segment_id=[0, -2, 1, -2, -1],
        segment_name=["Loyal big spenders", "Unassigned", EVIL, "Unassigned", "Returns only"],
    )
    result.k_selection = KSelection(
        ks=[3],
        inertia=[12.0],
        silhouette=[float("nan")],
        elbow_k=None,
        best_silhouette_k=None,
        chosen_k=3,
        reason="HDBSCAN found 3 dense segments by itself; 50% of customers fit none",
        sample_size=4,
    )
    result.method = "hdbscan"
    return result


@pytest.fixture(scope="module")
def density() -> dict[str, Any]:
    run = {k: v for k, v in RUN.items() if k != "method"}  # the method comes from the result
    return summarize_run(make_density_result(), imports=[], run=run)


@pytest.fixture(scope="module")
def density_html(density: dict[str, Any]) -> str:
    return render_report(density)


def test_rich_summary_is_plain_json_without_keys(rich: dict[str, Any]) -> None:
    allowed = (str, int, float, bool, type(None), list, dict)
    assert [v for v in _walk(rich) if type(v) not in allowed] == []
    text = json.dumps(rich, allow_nan=False)
    assert json.loads(text) == rich
    for key in RICH_KEYS:
        assert key not in text
    assert "customer_key" not in text
    assert "0.123456789" not in text  # the sample's centres stay out
    assert rich["version"] == 2


def test_rich_html_round_trip_and_no_keys(rich: dict[str, Any], rich_html: str) -> None:
    assert render_report(json.loads(json.dumps(rich))) == rich_html
    for key in RICH_KEYS:
        assert key not in rich_html
    assert EVIL not in rich_html
    assert rich_html.count("<script") == 2


def test_k_criteria_summary(rich: dict[str, Any]) -> None:
    kc = rich["k_criteria"]
    assert rich["k_mode"] == "criteria"
    assert "criteria" not in rich["k_selection"]
    assert kc["ks"] == [2, 3, 4, 5] and kc["chosen_k"] == 3
    assert kc["reason"] == REASON
    assert (kc["elbow_k"], kc["gap_k"], kc["best_silhouette_k"]) == (4, 3, 3)
    assert (kc["n_boot"], kc["n_refs"], kc["sample_size"]) == (20, 10, 8)
    panels = {p["key"]: p for p in kc["panels"]}
    assert list(panels) == [
        "silhouette",
        "stability",
        "inertia",
        "gap",
        "calinski_harabasz",
        "davies_bouldin",
    ]
    assert panels["inertia"]["suggested_k"] == 4  # the elbow, not the smallest inertia
    assert panels["stability"]["suggested_k"] == 3
    assert panels["davies_bouldin"]["values"] == [0.9, 0.7, None, 0.8]  # NaN -> None
    assert panels["davies_bouldin"]["suggested_k"] == 3
    assert panels["calinski_harabasz"]["values"][3] is None
    assert panels["gap"]["ks"] == [1, 2, 3, 4, 5]  # k = 1: "no structure" is a candidate
    assert panels["gap"]["errors"] == [0.03, 0.05, 0.04, 0.05, 0.06]
    assert panels["silhouette"]["threshold"] == pytest.approx(0.45)
    assert panels["silhouette"]["chosen_value"] == 0.47
    chosen = [r for r in kc["rows"] if r["chosen"]]
    assert [r["k"] for r in chosen] == [3]
    assert chosen[0]["values"]["stability"] == 0.93 and chosen[0]["gap_se"] == 0.04


def test_k_criteria_from_real_criteria() -> None:
    import numpy as np

    from clustomer.report.kchoice import summarize_criteria
    from clustomer.segment.criteria import k_criteria, kmeans_fit_labels

    rng = np.random.default_rng(0)
    X = np.vstack([c + rng.normal(scale=0.3, size=(15, 2)) for c in ([0, 0], [6, 0], [0, 6])])
    crit = k_criteria(X, [2, 3, 4], kmeans_fit_labels(n_init=1), n_boot=2, n_refs=2)
    kc = summarize_criteria(KSelection.from_criteria(crit))
    assert kc is not None
    assert kc["chosen_k"] == crit.chosen_k == 3
    assert kc["reason"] == crit.reason
    assert {p["key"] for p in kc["panels"]} == {
        "silhouette",
        "stability",
        "inertia",
        "gap",
        "calinski_harabasz",
        "davies_bouldin",
    }
    json.dumps(kc, allow_nan=False)


def test_criteria_figure_marks_chosen_k_in_every_panel(rich: dict[str, Any]) -> None:
    from clustomer.report.plots import k_figure

    fig = k_figure(rich)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:3] == [
        "Silhouette (higher is better)",
        "Stability (higher is better)",
        "Inertia (lower is better)",
    ]
    vlines = [s for s in fig.layout.shapes if s.x0 == s.x1 and s.type == "line"]
    assert len(vlines) == 6 and {s.x0 for s in vlines} == {3}
    hlines = [s for s in fig.layout.shapes if s.y0 == s.y1 and s.x0 != s.x1]
    assert [round(s.y0, 6) for s in hlines] == [0.45]  # silhouette margin
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == 6
    gap = next(t for t in lines if t.name == "Gap statistic")
    assert list(gap.x) == [1, 2, 3, 4, 5] and gap.error_y.visible
    elbow = next(t for t in fig.data if t.name == "Inertia: elbow")
    assert list(elbow.x) == [4]
    chosen = [t for t in fig.data if t.name.endswith(": chosen")]
    assert len(chosen) == 6 and all(list(t.x) == [3] for t in chosen)


def test_k_section_html(rich_html: str) -> None:
    assert f'<p class="reason"><strong>{REASON}</strong></p>' in rich_html
    assert "with 6 criteria on 8 sampled customers" in rich_html
    assert "stability from 20 bootstrap resamples" in rich_html
    assert '<tr class="chosen">' in rich_html and "3 (chosen)" in rich_html
    assert "0.040" in rich_html  # the gap's standard error in the table
    assert '<div id="plot-k" class="plot"></div>' in rich_html


def test_method_in_header(rich: dict[str, Any], rich_html: str, density: dict[str, Any]) -> None:
    assert rich["run"]["method"] == "gmm"
    assert "<li>Method<b>Gaussian mixture</b></li>" in rich_html
    assert density["run"]["method"] == "hdbscan"  # not in the run record: from the result
    assert density["run"]["method_label"] == "HDBSCAN"


def test_segment_stability(rich: dict[str, Any], rich_html: str) -> None:
    segs = rich["segments"]
    assert [s["stability"] for s in segs] == [0.93, 0.41, None]
    assert [s["unstable"] for s in segs] == [False, True, False]
    assert [s["stability_label"] for s in segs] == ["highly stable", "dissolved", "unknown"]
    assert rich["stability_known"] is True
    assert rich["unstable_segments"] == [EVIL]
    assert '<th class="num">Stability</th>' in rich_html
    assert rich_html.count('<tr class="unstable">') == 1
    assert rich_html.count("⚠ may not be real") == 1
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"1 segment may not be real: {escaped}." in rich_html
    assert "the segment changes when the customers are resampled" in rich_html
    assert "Hennig 2007" in rich_html
    assert '<td class="num">0.93<span class="desc">highly stable</span></td>' in rich_html


def test_stability_computed_when_flag_column_missing() -> None:
    result = make_result()
    result.profiles = result.profiles.assign(stability=[0.9, 0.59, 0.6])
    segs = summarize_run(result, imports=[], run={})["segments"]
    assert [s["unstable"] for s in segs] == [False, True, False]


def test_membership_probabilities(rich: dict[str, Any], rich_html: str) -> None:
    loyal, evil, lapsed = (s["probability"] for s in rich["segments"])
    assert loyal["customers"] == 3 and loyal["median"] == 0.95
    assert loyal["uncertain"] == 1 and loyal["uncertain_share"] == pytest.approx(0.3333)
    assert evil["median"] == pytest.approx(0.725) and evil["uncertain"] == 1
    assert lapsed["uncertain"] == 0 and (lapsed["min"], lapsed["max"]) == (0.9, 0.92)
    overall = rich["probabilities"]
    assert overall["customers"] == 7  # the returns-only customer has no probability
    assert overall["median"] == 0.9 and overall["uncertain"] == 2 and overall["threshold"] == 0.8
    assert '<th class="num">Uncertain members</th>' in rich_html
    assert '<td class="num">1 (50.0%)</td>' in rich_html
    assert "2 of 7 customers (28.6%) are uncertain members" in rich_html
    assert '<div id="plot-probability" class="plot"></div>' in rich_html
    assert '"plot-probability": {"data":' in rich_html

    from clustomer.report.plots import probability_figure

    fig = probability_figure(rich)
    assert [t.name for t in fig.data] == ["Loyal", EVIL, "Lapsed"]
    assert list(fig.data[0].median) == [0.95]


def test_explanations(rich: dict[str, Any], rich_html: str) -> None:
    ex = rich["explain"]
    feat = ex["features"]
    assert [g["name"] for g in feat["groups"]] == ["rfm", "products"]
    assert feat["columns"][3] == {"column": "topic_0", "label": "topic_0 (bag / lunch / jumbo)"}
    assert [p["message"] for p in feat["pruned"]] == [PRUNED_MESSAGE]
    assert feat["messages"] == ["no customer attributes found"]  # no repeat of the pruning
    assert feat["topics"][0] == {
        "name": "bag / lunch / jumbo",
        "top_words": ["bag", "lunch", "jumbo"],
        "share_of_spend": 0.6,
    }
    assert [s["segment_name"] for s in ex["rules"]] == ["Loyal", EVIL, "Lapsed"]
    loyal_rule = ex["rules"][0]["rules"][0]
    assert (loyal_rule["condition"], loyal_rule["support"], loyal_rule["precision"]) == (
        "at least 6 orders",
        3,
        1.0,
    )
    assert ex["rules"][1]["rules"][0]["condition"] == "spent less than £100"
    assert ex["fidelity"] == 0.934
    assert ex["fidelity_sentence"] == (
        "These rules place 93% of customers in the same segment as the clustering."
    )
    assert ex["classifier"]["cv_accuracy"] == 0.9712

    html = rich_html
    assert '<section id="features">' in html and '<section id="rules">' in html
    assert f"<li>{PRUNED_MESSAGE}</li>" in html
    assert "<strong>products</strong>: share of spend per product topic" in html
    assert "<td>bag / lunch / jumbo</td><td>bag, lunch, jumbo</td>" in html
    assert '<td class="num">60.0%</td>' in html
    assert "These rules place 93% of customers in the same segment as the clustering." in html
    assert (
        '<tr><td>at least 6 orders</td><td class="num">3</td><td class="num">100.0%</td></tr>'
        in html
    )
    assert "the rules put 50% of them back in this segment" in html
    assert "No simple rule found for this segment." in html  # Lapsed has none
    assert "97% of the time (± 1.2 points between folds)" in html
    pre = re.search(r'<pre class="rules">(.*?)</pre>', html, re.S)
    assert pre is not None
    assert pre.group(1) == (
        "# Loyal (segment 0, 3 customers)\nfrequency &gt;= 6\n"
        "# &lt;script&gt;alert(1)&lt;/script&gt;"
    )


def test_explanations_from_real_rules() -> None:
    from clustomer.report.explain import summarize_details
    from clustomer.segment.rules import explain_segments

    f = pd.DataFrame({"frequency": [1, 1, 2, 7, 8, 9]})
    rules = explain_segments(f, [1, 1, 1, 0, 0, 0], {0: "Loyal", 1: EVIL}, ["frequency"])
    ex = summarize_details(
        {"rules": rules.to_dict(), "rules_text": rules.to_text(), "explained_on": 6},
        n_clustered=600,
    )
    assert [(s["segment_name"], s["size"]) for s in ex["rules"]] == [("Loyal", 3), (EVIL, 3)]
    assert ex["rules"][0]["rules"][0]["condition"] == "at least 5 orders"
    assert ex["fidelity"] == 1.0  # read from the rules when details has none
    assert ex["fidelity_sentence"] == (
        "These rules place 100% of customers in the same segment as the clustering "
        "(measured on a sample of 6 customers)."
    )


def test_explanations_from_flat_rule_rows() -> None:
    from clustomer.report.explain import summarize_details

    rows = [
        {"segment_id": 0, "segment_name": "A", "text": "A: x", "support": 5, "precision": 0.8},
        {"segment_id": 0, "segment_name": "A", "text": "A: y", "support": 2, "precision": 1.0},
        {"segment_id": -2, "segment_name": "Unassigned", "text": "Unassigned: z", "support": 1},
    ]
    ex = summarize_details({"rules": {"rules": rows, "per_segment_fidelity": {0: 0.9}}})
    assert [(s["segment_id"], len(s["rules"])) for s in ex["rules"]] == [(0, 2), (-2, 1)]
    assert ex["rules"][0]["fidelity"] == 0.9 and ex["rules"][1]["fidelity"] is None
    assert ex["rules"][1]["rules"][0]["precision"] is None


def test_migration(rich: dict[str, Any], rich_html: str) -> None:
    mig = rich["migration"]
    assert mig["before_name"] == "May" and mig["after_name"] == "June"
    assert mig["rows"] == ["Loyal", "Lapsed", "(new)"]
    assert mig["columns"][-1] == "(gone)"
    assert mig["total"] == 7  # 5 in both runs, 1 new, 1 gone
    assert "2 Loyal customers became <script>alert(1)</script>" in mig["sentences"]
    html = rich_html
    assert '<section id="migration">' in html and "<h2>What changed since May</h2>" in html
    assert "<li>2 Loyal customers became &lt;script&gt;alert(1)&lt;/script&gt;</li>" in html
    assert '<td class="num stay">1</td>' in html  # Loyal -> Loyal
    assert '<div id="plot-migration" class="plot"></div>' in html
    assert '"plot-migration": {"data":' in html

    from clustomer.report.plots import migration_figure

    fig = migration_figure(rich)
    assert list(fig.data[0].y) == mig["rows"] and list(fig.data[0].x) == mig["columns"]


def test_density_unassigned_counted_apart_from_returns_only(
    density: dict[str, Any], density_html: str
) -> None:
    assert density["unassigned_customers"] == 1  # returns only (-1), as before
    assert density["returns_only_customers"] == 1
    assert density["unassigned_by_method"] == 2  # -2
    rows = {w["kind"]: w for w in density["without_segment"]}
    assert (rows["returns_only"]["customers"], rows["unassigned"]["customers"]) == (1, 2)
    assert rows["unassigned"]["share_customers"] == pytest.approx(0.4)
    assert density["k_mode"] == "density" and density["k_criteria"] is None
    html = density_html
    assert '<tr class="unassigned">' in html
    assert "Unassigned by HDBSCAN<span" in html
    assert "2 customers were left unassigned by HDBSCAN" in html
    assert "1 customer only returned goods and has no segment" in html
    assert '<td>Unassigned by the method</td><td class="num">2</td>' in html
    assert '<td>Returns only</td><td class="num">1</td>' in html
    assert "HDBSCAN does not take a number of segments" in html
    assert "HDBSCAN found 3 dense segments by itself" in html
    assert "plot-k" not in html  # no empty chart: the sentence says it all

    from clustomer.report.plots import k_figure

    note = k_figure(density).layout.annotations[0].text
    assert note == "HDBSCAN found the number of segments by itself; there are no curves to compare."


def test_fallbacks_without_new_data(summary: dict[str, Any], html: str) -> None:
    assert summary["k_mode"] == "curves" and summary["k_criteria"] is None
    assert summary["run"]["method_label"] == "k-means"
    assert summary["stability_known"] is False and summary["unstable_segments"] == []
    assert all(s["stability"] is None and s["unstable"] is False for s in summary["segments"])
    assert summary["probabilities"] is None
    assert all(s["probability"] is None for s in summary["segments"])
    assert summary["unassigned_by_method"] == 0
    assert summary["explain"]["features"] is None and summary["explain"]["rules"] == []
    assert summary["migration"] is None
    assert "Stability</th>" not in html and "may not be real" not in html
    assert "Uncertain members" not in html and "plot-probability" not in html
    assert 'id="rules"' not in html and 'id="migration"' not in html
    assert "plot-migration" not in html and "Unassigned by" not in html
    assert "inertia (how tight segments are) and silhouette" in html  # the old k section
    assert "<li>recency_days</li>" in html  # features fall back to the result's columns


def test_render_summary_of_older_version(summary: dict[str, Any]) -> None:
    old = {k: v for k, v in summary.items() if k in _V1_KEYS}
    old["run"] = {k: v for k, v in summary["run"].items() if k != "method_label"}
    old["segments"] = [
        {
            k: v
            for k, v in s.items()
            if k not in ("stability", "stability_label", "unstable", "probability")
        }
        for s in summary["segments"]
    ]
    text = render_report(old)
    assert "3 segments: the elbow of the inertia curve" in text
    assert "<li>Method<b>kmeans</b></li>" in text


_V1_KEYS = {
    "version",
    "title",
    "generated_at",
    "run",
    "imports",
    "accounting_ok",
    "k_selection",
    "feature_columns",
    "median_columns",
    "segments",
    "unassigned_customers",
    "rfm",
    "projection",
    "explained_variance",
}


# --- customer value ------------------------------------------------------------------


def make_backtest() -> dict[str, Any]:
    metrics = {
        "orders_mae": 0.8,
        "orders_rmse": 1.2,
        "orders_spearman": 0.5,
        "revenue_mae": 40.0,
        "revenue_spearman": 0.55,
        "top_decile_capture": 0.4,
        "auc_active": 0.75,
        "auc_alive": None,
        "orders_total_ratio": 0.95,
        "fit_seconds": 0.01,
        "degenerate": False,
    }
    return {
        "backtest_id": 7,
        "cutoff": "2011-09-09",
        "horizon": 91,
        "n_customers": 4,
        "share_active": 0.5,
        "oracle_top_decile_capture": 0.62,
        "best_model": "naive",
        "best_rule": "lowest mean rank over the metrics",
        "models": {
            "naive": {"label": "naive rate", **metrics},
            "bgnbd": {"label": "BG/NBD + Gamma-Gamma", **metrics, "degenerate": True},
        },
        "degenerate": {"bgnbd": "r at its bound " + EVIL},
        "notes": ["the BG/NBD fit is degenerate " + EVIL],
        "tracking": {
            "weeks": ["2011-08-26", "2011-09-02", "2011-09-10", "2011-09-17"],
            "actual": [3, 4, 5, 2],
            "actual_cohort": [3, 4, 4, 1],
            "holdout_start": "2011-09-10",
            "holdout_weeks": 2,
            "predicted": {"naive": [2.0, 2.0], "bgnbd": [1.5, 1.5]},
        },
    }


def make_value_run() -> dict[str, Any]:
    values = pd.DataFrame(
        {
            "customer_key": KEYS,
            "p_active_90d": [0.95, 0.82, 0.05, 0.0, 1.0],
            "expected_revenue_90d": [100.0, 50.0, 5.0, 0.0, 20.0],
            "clv_12m": [400.0, 200.0, 20.0, 0.0, 80.0],
            "value_confidence": ["high", "high", "medium", "low", "low"],
            "monetary": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    return RUN | {
        "details": {"value": {"model": "naive", "backtest_id": 7, "clv_12m_total": 700.0}},
        "backtest": make_backtest(),
        "values": values,
    }


def make_value_result() -> SegmentationResult:
    from dataclasses import replace

    result = make_result()
    profiles = result.profiles.assign(
        clv_12m_total=[600.0, 20.0, 0.0], expected_revenue_90d_total=[150.0, 5.0, 0.0]
    )
    return replace(result, profiles=profiles)


@pytest.fixture(scope="module")
def valued() -> dict[str, Any]:
    return summarize_run(make_value_result(), imports=[], run=make_value_run())


def test_value_summary(valued: dict[str, Any]) -> None:
    v = valued["value"]
    json.dumps(valued)  # plain data only
    assert not {k for k in _walk(valued) if isinstance(k, str)} & set(KEYS)
    assert v["model"] == "naive" and v["backtest_id"] == 7 and v["clv_12m_total"] == 700.0
    assert v["expected_revenue_90d_total"] == 175.0 and v["customers"] == 5
    assert v["p_active"]["counts"] == [2, 0, 0, 0, 0, 0, 0, 0, 1, 2]
    assert v["p_active"]["edges"][0] == 0.0 and v["p_active"]["edges"][-1] == 1.0
    assert [(c["level"], c["customers"]) for c in v["confidence"]] == [
        ("high", 2),
        ("medium", 1),
        ("low", 2),
    ]
    assert [(s["name"], s["clv_12m_total"]) for s in v["segments"]] == [
        ("Loyal big spenders", 600.0),
        (EVIL, 20.0),
        ("Lapsed", 0.0),
    ]
    bt = v["backtest"]
    rows = {r["model"]: r for r in bt["rows"]}
    assert rows["naive"]["best"] and rows["naive"]["used"] and not rows["naive"]["degenerate"]
    assert rows["bgnbd"]["degenerate"] and not rows["bgnbd"]["best"]
    assert rows["naive"]["metrics"]["revenue_spearman"] == 0.55
    assert bt["oracle_top_decile_capture"] == 0.62 and len(bt["notes"]) == 1
    tr = v["tracking"]
    assert tr["holdout_weeks"] == 2 and tr["predicted_totals"] == {"naive": 4.0, "bgnbd": 3.0}
    assert tr["actual_holdout_total"] == 5 and v["backtest_is_newer"] is False


def test_value_html(valued: dict[str, Any]) -> None:
    text = render_report(valued)
    section = text[text.index('<section id="value">') :]
    section = section[: section.index("</section>")]
    assert '<a href="#value">Customer value</a>' in text
    assert "<h2>Customer value</h2>" in section and "700.00 GBP" in section
    assert "✓ chosen" in section and "⚠ degenerate fit" in section
    assert "lowest mean rank over the metrics" in section and "62.0%" in section
    assert EVIL not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    for element in ("plot-value-tracking", "plot-value-p-active", "plot-value-clv"):
        assert f'id="{element}"' in section and f'"{element}":' in text
    assert '<td class="num">600.00</td>' in section and "<td>medium</td>" in section
    assert not [k for k in KEYS if k in text]


def test_value_absent_in_older_runs(summary: dict[str, Any], html: str) -> None:
    assert summary["value"] is None
    assert 'id="value"' not in html and "plot-value" not in html
    old = {k: v for k, v in summary.items() if k != "value"}
    assert 'id="value"' not in render_report(old)
    # a backtest stored before tracking existed: the table, no tracking plot
    bt = {k: v for k, v in make_backtest().items() if k != "tracking"}
    s = summarize_run(make_result(), imports=[], run=RUN | {"backtest": bt})
    assert s["value"]["tracking"] is None and s["value"]["p_active"] is None
    text = render_report(s)
    assert "Which model: the backtest" in text and "plot-value" not in text


def test_backtest_tracking_is_aggregate() -> None:
    import numpy as np

    from clustomer.clv.backtest import backtest

    rng = np.random.default_rng(1)
    days = pd.DataFrame(
        {
            "customer_key": [f"c{i % 40}@example.com" for i in range(400)],
            "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200, 400), "D"),
            "revenue": rng.gamma(2.0, 20.0, 400),
        }
    ).drop_duplicates(["customer_key", "day"])
    res = backtest(days, horizon=60, models=("naive", "naive_pace"))
    tr = res.to_dict()["tracking"]
    assert "@example.com" not in json.dumps(tr)
    assert tr["holdout_start"] == (res.cutoff + pd.Timedelta(days=1)).date().isoformat()
    assert tr["weeks"][-tr["holdout_weeks"]] == tr["holdout_start"] and tr["holdout_weeks"] == 9
    assert sum(tr["actual"]) == len(days) and len(tr["actual"]) == len(tr["weeks"])
    assert sum(tr["actual_cohort"][-9:]) == res.actual["orders"].sum()
    for name, weekly in tr["predicted"].items():
        assert len(weekly) == 9 and weekly[-1] < weekly[0]  # 60 days: a 4-day last week
        expected = res.table.loc[name, "orders_total_ratio"] * res.actual["orders"].sum()
        assert sum(weekly) == pytest.approx(expected, abs=0.05)
