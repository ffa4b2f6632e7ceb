"""Render a run summary as one self-contained HTML file that works offline.

plotly.js is inlined once; each figure is embedded as JSON and drawn with
``Plotly.newPlot``. Templates load from the package with autoescaping on, so every
value that comes from data (file names, segment names, messages) is escaped.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import plotly.io as pio
from markupsafe import Markup

from clustomer.report.plots import figures_for
from clustomer.report.strategy import strategy_figures
from clustomer.segment.criteria import LOW_STABILITY

#: plotly.js options for every figure: no logo link, resizes with the page.
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped with the ``plotly`` package, safe to inline.

    Returns
    -------
    str
        The minified bundle, with any ``</script`` neutralised.

    Examples
    --------
    >>> len(plotly_js()) > 1_000_000
    True
    """
    path = resources.files("plotly") / "package_data" / "plotly.min.js"
    return path.read_text(encoding="utf-8").replace("</script", "<\\/script")


def _script_json(text: str) -> Markup:
    # JSON inside <script>: "<" cannot close the tag once written as \u003c
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _number(value: Any, decimals: int = 0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.{decimals}f}"


def fmt_int(value: Any) -> str:
    """Format a count with thousands separators (``None`` shows as a dash).

    Examples
    --------
    >>> fmt_int(541909), fmt_int(None)
    ('541,909', '–')
    """
    return _number(value, 0)


def fmt_money(value: Any) -> str:
    """Format an amount with two decimals and thousands separators.

    Examples
    --------
    >>> fmt_money(9747747.934)
    '9,747,747.93'
    """
    return _number(value, 2)


def fmt_pct(value: Any, decimals: int = 1) -> str:
    """Format a share (0..1) as a percentage.

    Examples
    --------
    >>> fmt_pct(0.1234)
    '12.3%'
    """
    if value is None:
        return "–"
    return _number(100 * value, decimals) + "%"


def fmt_days(value: Any) -> str:
    """Format a number of days as a whole number.

    Examples
    --------
    >>> fmt_days(12.6)
    '13'
    """
    if value is None:
        return "–"
    return _number(round(value), 0)


def fmt_number(value: Any) -> str:
    """Format a number: whole numbers as integers, others with up to two decimals.

    Examples
    --------
    >>> fmt_number(3.0), fmt_number(2.5), fmt_number(1234.125)
    ('3', '2.5', '1,234.12')
    """
    if value is None:
        return "–"
    if float(value).is_integer():
        return _number(value, 0)
    return _number(value, 2).rstrip("0").rstrip(".")


def fmt_value(value: Any, kind: str) -> str:
    """Format a feature value by its display kind (money, days, count, rate, number).

    Examples
    --------
    >>> fmt_value(1234.5, "money"), fmt_value(0.05, "rate"), fmt_value(30.4, "days")
    ('1,234.50', '5.0%', '30')
    """
    if kind == "money":
        return fmt_money(value)
    if kind == "days":
        return fmt_days(value)
    if kind == "rate":
        return fmt_pct(value)
    return fmt_number(value)


def fmt_fixed(value: Any, decimals: int = 2) -> str:
    """Format a number with a fixed number of decimals (``None`` shows as a dash).

    Examples
    --------
    >>> fmt_fixed(0.93456, 3), fmt_fixed(1234.5, 0), fmt_fixed(None)
    ('0.935', '1,234', '–')
    """
    return _number(value, decimals)


def fmt_seconds(value: Any) -> str:
    """Format a duration in seconds.

    Examples
    --------
    >>> fmt_seconds(0.0421), fmt_seconds(12.34)
    ('0.04 s', '12.3 s')
    """
    if value is None:
        return "–"
    return f"{value:.2f} s" if value < 10 else f"{value:,.1f} s"


def fmt_when(value: Any) -> str:
    """Format an ISO timestamp as ``YYYY-MM-DD HH:MM`` (with ``UTC`` when it is UTC).

    Anything that is not an ISO timestamp is shown as it is.

    Examples
    --------
    >>> fmt_when("2026-11-27T11:00:00+00:00"), fmt_when("2011-12-10"), fmt_when("soon")
    ('2026-11-27 11:00 UTC', '2011-12-10', 'soon')
    """
    if value is None:
        return "–"
    text = str(value)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if len(text) <= 10:
        return moment.date().isoformat()
    out = moment.strftime("%Y-%m-%d %H:%M")
    offset = moment.utcoffset()
    if offset is None:
        return out
    return out + (" UTC" if not offset else moment.strftime(" UTC%z"))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("clustomer.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        int=fmt_int,
        money=fmt_money,
        pct=fmt_pct,
        days=fmt_days,
        number=fmt_number,
        fixed=fmt_fixed,
        value=fmt_value,
        seconds=fmt_seconds,
        when=fmt_when,
    )
    return env


def figures_json(summary: dict[str, Any]) -> dict[str, Markup]:
    """Each report figure as JSON, keyed by the id of the element it is drawn into.

    Parameters
    ----------
    summary : dict
        A run summary.

    Returns
    -------
    dict
        Element id to figure JSON, escaped for use inside a ``<script>`` element.

    Examples
    --------
    >>> from clustomer.report.summarize import _example_result, summarize_run
    >>> sorted(figures_json(summarize_run(_example_result(), imports=[], run={})))
    ['plot-k', 'plot-map', 'plot-rfm', 'plot-segments']
    """
    builders = {**figures_for(summary), **strategy_figures(summary)}
    return {
        element: _script_json(pio.to_json(build(summary), validate=False))
        for element, build in builders.items()
    }


#: Keys added in summary version 2, with what a version-1 summary (stored earlier) means.
_V2_DEFAULTS: dict[str, Any] = {
    "k_mode": None,
    "k_criteria": None,
    "stability_known": False,
    "unstable_segments": [],
    "low_stability": LOW_STABILITY,
    "unassigned_by_method": 0,
    "without_segment": [],
    "probabilities": None,
    "explain": {
        "features": None,
        "rules": [],
        "fidelity": None,
        "fidelity_sentence": None,
        "rules_text": None,
        "classifier": None,
        "explained_on": None,
        "note": None,
    },
    "migration": None,
    "value": None,
    "strategy": None,
}
_V2_SEGMENT_DEFAULTS: dict[str, Any] = {
    "stability": None,
    "stability_label": "unknown",
    "unstable": False,
    "probability": None,
}


def with_defaults(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with every key the template reads, for summaries stored by older versions.

    Parameters
    ----------
    summary : dict
        A run summary of any version.

    Returns
    -------
    dict
        A shallow copy; missing keys get the value that means "not computed".

    Examples
    --------
    >>> s = with_defaults({"segments": [{"name": "A"}], "run": {"method": "kmeans"}})
    >>> s["k_criteria"], s["segments"][0]["stability"], s["run"]["method_label"]
    (None, None, 'kmeans')
    """
    out = {**_V2_DEFAULTS, **summary}
    out["segments"] = [{**_V2_SEGMENT_DEFAULTS, **seg} for seg in summary.get("segments") or []]
    run = dict(summary.get("run") or {})
    run.setdefault("method_label", run.get("method"))
    out["run"] = run
    return out


def render_report(summary: dict[str, Any]) -> str:
    """Render a run summary as one self-contained HTML page.

    The page needs no network: plotly.js is inlined once and no external resource is
    referenced. All text from data is HTML-escaped.

    Parameters
    ----------
    summary : dict
        The output of :func:`clustomer.report.summarize.summarize_run` (or the same data
        read back from JSON).

    Returns
    -------
    str
        The HTML document (about 5 MB, most of it plotly.js).

    Examples
    --------
    >>> from clustomer.report.summarize import _example_result, summarize_run
    >>> html = render_report(summarize_run(_example_result(), imports=[], run={}))
    >>> "How many segments" in html and html.count("<html") == 1
    True
    """
    summary = with_defaults(summary)
    template = _environment().get_template("report.html.j2")
    return template.render(
        s=summary,
        figures=figures_json(summary),
        plot_config=_script_json(json.dumps(PLOT_CONFIG)),
        plotly_js=Markup(plotly_js()),
    )


def write_report(summary: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Render a run summary and write it to ``path`` (parents created, replaced atomically).

    Parameters
    ----------
    summary : dict
        A run summary.
    path : str or path-like
        Where to write the ``.html`` file.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ClustomerError
        If the file cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> from clustomer.report.summarize import _example_result, summarize_run
    >>> summary = summarize_run(_example_result(), imports=[], run={})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = write_report(summary, Path(d) / "report.html")
    ...     out.stat().st_size > 1_000_000
    True
    """
    from clustomer.export.safety import atomic_file

    target = Path(path)
    html = render_report(summary)
    with atomic_file(target, new_mode=0o644, what="the report") as fh:
        fh.write(html)
    return target
