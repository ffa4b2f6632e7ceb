"""What the marketing commands print: plans, exports, recommendations, campaigns.

Plain functions over plain data (``to_dict()`` output); nothing here computes. Customer
keys that are e-mail addresses are masked unless the user asks to see them.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from clustomer.cli_render import OUT
from clustomer.errors import mask_emails


def _money(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


def _pct(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v * 100:.{digits}f}%"


def _ci(ci: list[float] | None, scale: float = 100.0, unit: str = "pp") -> str:
    if not ci:
        return "—"
    return f"[{ci[0] * scale:+.2f}, {ci[1] * scale:+.2f}]{unit}"


def print_recommend(data: dict[str, Any]) -> None:
    """``clustomer recommend``: where the file went and what is in it."""
    reasons = ", ".join(f"{k}: {v:,}" for k, v in data["reasons"].items())
    OUT.print(
        f"Wrote {data['rows']:,} recommendations for {data['customers']:,} customers "
        f"({data['products']:,} distinct products) to {escape(data['path'])}.\n"
        f"Reasons: {reasons}"
    )


def print_recommend_backtest(data: dict[str, Any]) -> None:
    """``clustomer backtest --recommend``: hit and recall per recommender."""
    top = data["top"]
    t = Table(
        title=f"Recommendations backtest: cutoff {data['cutoff']}, {data['users']:,} users "
        f"who bought in the next {data['horizon']} days",
        title_justify="left",
    )
    t.add_column("recommender")
    for col in (f"hit@{top}", f"recall@{top}", f"hit@{top} new", f"recall@{top} new"):
        t.add_column(col, justify="right")

    def cell(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    for name, res in data["recommenders"].items():
        t.add_row(
            escape(name),
            cell(res["any"]["hit"]),
            cell(res["any"]["recall"]),
            cell(res["new"]["hit"]),
            cell(res["new"]["recall"]),
        )
    OUT.print(t)
    notes = (data.get("fit") or {}).get("notes") or []
    for note in notes:
        OUT.print(f"[dim]· {escape(note)}[/]")
    OUT.print(
        "[dim]new: only products the user had not bought before the cutoff, scored against "
        "the new products they bought[/]"
    )


def print_plan(data: dict[str, Any], *, show_keys: bool = False) -> None:
    """``clustomer plan``: the strategy per segment, then who to contact this week."""
    for s in data["segments"]:
        OUT.print(
            f"\n[bold]{escape(s['name'])}[/] — {s['size']:,} customers, expected value "
            f"{_money(s['expected_value'])} ({_pct(s['expected_value_share'], 0)}), "
            f"forecast revenue 90 days {_money(s.get('expected_revenue_90d'))}"
            f"  [dim]{escape(s['archetype'])} playbook[/]\n"
            f"  objective: {escape(s['objective'])}"
            + "".join(f"\n  · {escape(a)}" for a in s["actions"])
            + f"\n  channel: {escape(s['channel'])} · offer: {escape(s['offer'])}"
            f" · cadence: {escape(s['cadence'])}"
        )
    OUT.print(f"\n[dim]{escape(data['basis_note'])}[/]")
    contacts = data["contact_this_week"]
    if not contacts:
        return
    t = Table(title="Contact this week", title_justify="left", caption=escape(data["contact_rule"]))
    for col in ("customer", "segment", "CLV 12m", "P(active)", "at risk"):
        t.add_column(
            col, justify="left" if col in ("customer", "segment") else "right", no_wrap=True
        )
    t.add_column("action", ratio=1)
    for c in contacts:
        key = str(c["customer_key"])
        t.add_row(
            escape(key if show_keys else mask_emails(key)),
            escape(c["segment"]),
            _money(c["clv_12m"]),
            _pct(c["p_active_90d"], 0),
            _money(c["value_at_risk"]),
            escape(c["suggested_action"]),
        )
    OUT.print(t)


def print_export(data: dict[str, Any]) -> None:
    """``clustomer export``: counts written, held out and left out (and why)."""
    OUT.print(
        f"Wrote {data['n_written']:,} customers of {escape(str(data['segment']))} to "
        f"{escape(data['path'])} ({data['format']})."
    )
    if not data["n_written"]:
        OUT.print(
            "[yellow]The file has no customers: nobody in the segment can be sent this "
            "format (see below), or the holdout took them all.[/]"
        )
    if data["n_control"]:
        OUT.print(
            f"Held out {data['n_control']:,} as the control group "
            f"({_pct(data['holdout'], 0)}, seed {data['seed']}); recorded as audience "
            f"{data['audience_id']}."
        )
    excluded = {k: v for k, v in data["excluded"].items() if v}
    if excluded:
        OUT.print(
            "Left out: " + ", ".join(f"{v:,} {escape(k)}" for k, v in sorted(excluded.items()))
        )
    else:
        OUT.print("Nobody was left out.")


def _comparison_rows(t: Table, c: dict[str, Any]) -> None:
    tr, co = c["treatment"], c["control"]
    t.add_row(
        escape(c["label"]),
        f"{tr['customers']:,} / {co['customers']:,}",
        f"{_pct(tr['conversion_rate'], 2)} / {_pct(co['conversion_rate'], 2)}",
        f"{_money(tr['revenue_per_customer'])} / {_money(co['revenue_per_customer'])}",
        "—" if c["abs_lift"] is None else f"{c['abs_lift'] * 100:+.2f}pp",
        _ci(c["abs_lift_ci"]),
        "—" if c["p_value"] is None else f"{c['p_value']:.3g} ({c['test']})",
    )


def print_campaign_report(data: dict[str, Any]) -> None:
    """``clustomer campaign report``: treatment against control, overall and per segment."""
    OUT.print(
        f"[bold]{escape(data['name'])}[/]: sent {data['sent']}, measured over "
        f"{data['window_days']} days to {data['window_end']} ({escape(data['source'])})."
    )
    t = Table(title_justify="left")
    for col in (
        "group",
        "treated / control",
        "conversion",
        "revenue per customer",
        "lift",
        f"{data['confidence']:.0%} CI",
        "p-value",
    ):
        t.add_column(col, justify="left" if col == "group" else "right")
    _comparison_rows(t, data["overall"])
    for seg in data["segments"]:
        _comparison_rows(t, seg)
    OUT.print(t)
    groups = [data["overall"], *(data["segments"] if len(data["segments"]) > 1 else [])]
    for c in groups:
        OUT.print(escape(c["summary"]))
        if c["revenue_diff"] is not None:
            OUT.print(
                f"  revenue per customer: {c['revenue_diff']:+,.2f} "
                f"({data['confidence']:.0%} CI {_ci(c['revenue_diff_ci'], 1.0, '')})"
            )
    for note in [*data["notes"], *data["overall"]["notes"]]:
        OUT.print(f"[dim]· {escape(note)}[/]")


def print_campaign_plan(data: dict[str, Any]) -> None:
    """``clustomer campaign plan``: the sentence, in colour when the list is too small."""
    style = "red" if data["enough"] is False else "green" if data["enough"] else ""
    text = escape(data["message"])
    OUT.print(f"[{style}]{text}[/]" if style else text)
