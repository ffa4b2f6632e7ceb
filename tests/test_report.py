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
