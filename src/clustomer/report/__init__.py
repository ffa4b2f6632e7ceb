"""The run report: summarise a run to plain data, then render one offline HTML file.

Examples
--------
>>> from clustomer.report import render_report, summarize_run
>>> from clustomer.report.summarize import _example_result
>>> html = render_report(summarize_run(_example_result(), imports=[], run={}))
>>> html.startswith("<!DOCTYPE html>")
True
"""

from __future__ import annotations

from clustomer.report.html import render_report, write_report
from clustomer.report.summarize import summarize_import, summarize_run

__all__ = ["render_report", "summarize_import", "summarize_run", "write_report"]
