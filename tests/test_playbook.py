"""Tests of the marketing playbook: loading and checking, the plan, the report section."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from clustomer.errors import InputError
from clustomer.playbook import (
    PlaybookError,
    build_plan,
    default_playbook,
    load_playbook,
    read_playbook,
)
from clustomer.playbook.load import FIELDS
from clustomer.playbook.scores import BASIS_MODEL, BASIS_PROXY
from clustomer.report.html import render_report
from clustomer.report.summarize import _example_result, summarize_run
from clustomer.segment.profile import PROTOTYPES
from clustomer.segment.rfm import RFM_SEGMENTS

KEYS = [f"{c}@shop.test" for c in "abcdefgh"]


def members() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_key": KEYS,
            "segment_id": [0, 0, 1, 1, 1, 2, -2, -1],
            "segment_name": [
                "Champions",
                "Champions",
                "At risk",
                "At risk",
                "At risk",
                "Segment 2",
                "Unassigned",
                "Returns only",
            ],
        }
    )


def values() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_key": KEYS,
            "p_active_90d": [0.9, 0.5, 0.2, 0.1, 0.4, 0.8, 0.5, 0.0],
            "expected_revenue_90d": [100.0, 40.0, 50.0, 10.0, 30.0, 200.0, 20.0, 0.0],
            "clv_12m": [400.0, 150.0, 500.0, 60.0, 100.0, 900.0, 80.0, 0.0],
            "monetary": [1000.0, 300.0, 2000.0, 100.0, 800.0, 1500.0, 50.0, -30.0],
        }
    )


def write(tmp_path: Path, text: str, name: str = "my.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the playbook file ----------------------------------------------------------------


def test_default_covers_every_archetype_and_rfm_segment() -> None:
    pb = default_playbook()
    names = set(PROTOTYPES) | set(RFM_SEGMENTS)
    assert names <= set(pb.archetypes)
    for name in names:
        matched, strategy = pb.lookup(name)
        assert matched == name
        assert all(strategy.to_dict()[f] for f in FIELDS), name
    assert pb.fallback.objective and pb.fallback.actions
    assert pb.sources == ("default",) and pb.overridden == ()
    for leftover in ("Segment 11", "Unassigned"):
        assert pb.lookup(leftover) == ("fallback", pb.fallback)


def test_default_says_what_the_issue_asks() -> None:
    pb = default_playbook()
    champions = pb.lookup("Champions")[1]
    text = " ".join(champions.actions).lower()
    assert "early access" in text and "referral" in text
    assert "no discount" in champions.offer.lower()
    assert "time-limited" in pb.lookup("At risk")[1].offer
    assert "win-back" in pb.lookup("At risk")[1].actions[0]
    assert "onboarding" in pb.lookup("New customers")[1].actions[0]
    assert "personal note" in pb.lookup("Can't lose")[1].actions[0]


def test_partial_override_inherits_the_rest(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[archetypes.Champions]\noffer = "A hand-written card."\n\n'
        '[archetypes."At risk"]\nobjective = "Call them."\nactions = ["Phone them."]\n\n'
        '[archetypes."Segment 7"]\nchannel = "SMS"\n\n'
        '[fallback]\ncadence = "weekly"\n',
    )
    base = default_playbook()
    pb = load_playbook(path)
    assert pb.sources == ("default", str(path))
    assert pb.overridden == ("Champions", "At risk", "Segment 7", "fallback")
    champions = pb.lookup("Champions")[1]
    assert champions.offer == "A hand-written card."
    base_champions = base.lookup("Champions")[1]
    assert champions == replace(base_champions, offer="A hand-written card.")
    at_risk = pb.lookup("At risk")[1]
    assert at_risk.actions == ("Phone them.",) and at_risk.objective == "Call them."
    assert at_risk.channel == base.lookup("At risk")[1].channel
    # a named leftover segment inherits from the (user's) fallback
    assert pb.lookup("Segment 7") == ("Segment 7", replace(pb.fallback, channel="SMS"))
    assert pb.fallback == replace(base.fallback, cadence="weekly")
    for name in set(base.archetypes) - {"Champions", "At risk"}:
        assert pb.lookup(name)[1] == base.lookup(name)[1], name


def test_unknown_archetype_names_the_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[archetypes.Champs]\noffer = "x"\n')
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    err = caught.value
    assert isinstance(err, InputError) and err.exit_code == 2
    assert err.file == str(path) and err.key == "archetypes.Champs"
    assert str(err).startswith(f"{path}: archetypes.Champs: unknown archetype 'Champs'")
    assert "did you mean 'Champions'?" in str(err)


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'version = 2\narchetype = "x"\n\n'
        '[archetypes."At risk"]\nactions = 3\noffr = "gift"\nobjective = "  "\n\n'
        '[archetypes.lost]\ncadence = "weekly"\n\n'
        "[fallback]\nchannel = [1]\n",
    )
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    problems = dict(caught.value.problems)
    assert problems["version"] == "must be 1, not 2"
    assert "did you mean 'archetypes'?" in problems["archetype"]
    assert problems['archetypes."At risk".actions'].startswith("must be a list of texts")
    assert "did you mean 'offer'?" in problems['archetypes."At risk".offr']
    assert problems['archetypes."At risk".objective'] == "is empty"
    assert "did you mean 'Lost'?" in problems["archetypes.lost"]
    assert problems["fallback.channel"] == "must be text, not a list"
    message = str(caught.value)
    assert message.startswith(str(path)) and all(key in message for key in problems)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[fallback]\noffer = "unterminated\n')
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert caught.value.line == 2 and "not valid TOML" in str(caught.value)
    assert str(caught.value).startswith(f"{path}, line 2: ")
    with pytest.raises(PlaybookError, match="cannot read the playbook"):
        load_playbook(tmp_path / "absent.toml")
    with pytest.raises(PlaybookError, match="must be a table"):
        read_playbook('fallback = "x"', source="inline")


# --- the plan --------------------------------------------------------------------------


def test_expected_value_by_hand_and_order() -> None:
    plan = build_plan([], members(), values())
    # by hand: p × expected revenue, summed per segment
    by_hand = {
        "Champions": 0.9 * 100 + 0.5 * 40,  # 110
        "At risk": 0.2 * 50 + 0.1 * 10 + 0.4 * 30,  # 23
        "Segment 2": 0.8 * 200,  # 160
        "Unassigned": 0.5 * 20,  # 10
    }
    assert plan.basis == BASIS_MODEL
    assert [s.name for s in plan.segments] == ["Segment 2", "Champions", "At risk", "Unassigned"]
    for seg in plan.segments:
        assert seg.expected_value == pytest.approx(by_hand[seg.name])
        assert seg.expected_value_share == pytest.approx(by_hand[seg.name] / 303)
    seg = {s.name: s for s in plan.segments}
    assert seg["Champions"].size == 2 and seg["At risk"].size == 3
    assert seg["Champions"].expected_revenue_90d == pytest.approx(140.0)
    assert seg["Champions"].revenue_share == pytest.approx(1300 / 5750)
    assert plan.returns_only == 1  # the returns-only customer is not planned
    pb = default_playbook()
    assert seg["At risk"].archetype == "At risk"
    assert seg["At risk"].strategy == pb.lookup("At risk")[1]
    assert seg["Segment 2"].archetype == seg["Unassigned"].archetype == "fallback"


def test_plan_to_dict_is_plain_and_complete() -> None:
    data = build_plan([], members(), values()).to_dict()
    json.dumps(data)
    first = data["segments"][0]
    assert {"name", "size", "archetype", "expected_value", "revenue_share", *FIELDS} <= set(first)
    assert first["expected_value"] == 160.0 and isinstance(first["actions"], list)
    contact = data["contact_this_week"][0]
    assert set(contact) == {
        "customer_key",
        "segment",
        "clv_12m",
        "p_active_90d",
        "value_at_risk",
        "suggested_action",
        "channel",
    }


def test_profiles_give_names_and_descriptions() -> None:
    m = members().drop(columns="segment_name")
    profiles = [
        {"segment_id": 0, "name": "Champions", "description": "recent, frequent"},
        {"segment_id": 1, "name": "At risk", "description": "lapsed"},
    ]
    plan = build_plan(profiles, m, values())
    seg = {s.segment_id: s for s in plan.segments}
    assert seg[0].name == "Champions" and seg[0].description == "recent, frequent"
    assert seg[2].name == "Segment 2" and seg[-2].name == "Unassigned"


def test_rfm_proxy_when_there_is_no_value_model() -> None:
    m = pd.DataFrame(
        {
            "customer_key": ["x", "y", "z"],
            "segment_id": [0, 0, 1],
            "segment_name": ["Loyal", "Loyal", "Lost"],
        }
    )
    feats = pd.DataFrame(
        {
            "customer_key": ["x", "y", "z"],
            "recency_days": [0.0, 90.0, 180.0],
            "frequency": [3, 3, 1],
            "monetary": [300.0, 300.0, 50.0],
            "tenure_days": [180.0, 180.0, 30.0],
        }
    )
    plan = build_plan([], m, feats)
    assert plan.basis == BASIS_PROXY and "proxy" in plan.basis_note
    # x: no decay, 3 orders in 180 days -> 1.5 orders and 150 in 90 days
    # y: 90 days quiet halves it -> 0.75 orders, 75; z: tenure counts 90, decay 1/4
    x = (1 - math.exp(-1.5)) * 150.0
    y = (1 - math.exp(-0.75)) * 75.0
    z = (1 - math.exp(-0.25)) * 12.5
    seg = {s.name: s for s in plan.segments}
    assert seg["Loyal"].expected_value == pytest.approx(x + y)
    assert seg["Lost"].expected_value == pytest.approx(z)
    assert seg["Loyal"].expected_revenue_90d == pytest.approx(225.0)
    # model columns present but empty: still the proxy
    empty = feats.assign(p_active_90d=float("nan"), expected_revenue_90d=float("nan"))
    assert build_plan([], m, empty.assign(clv_12m=float("nan"))).basis == BASIS_PROXY


def test_no_basis_gives_no_value_but_a_strategy() -> None:
    plan = build_plan([], members())
    assert plan.basis is None and plan.contact_this_week == ()
    assert all(s.expected_value is None for s in plan.segments)
    assert {s.name for s in plan.segments} == {"Champions", "At risk", "Segment 2", "Unassigned"}


def test_contact_list_ranks_valuable_customers_by_value_at_risk() -> None:
    pb = default_playbook()
    # top quarter of spend (>= 1250 of the 7 planned): c (2000) and f (1500)
    plan = build_plan([], members(), values())
    got = [(c.customer_key, c.value_at_risk) for c in plan.contact_this_week]
    assert got == [("c@shop.test", pytest.approx(400.0)), ("f@shop.test", pytest.approx(180.0))]
    c = plan.contact_this_week[0]
    assert c.segment == "At risk" and c.clv_12m == 500.0 and c.p_active_90d == 0.2
    assert c.suggested_action == pb.lookup("At risk")[1].actions[0]
    assert plan.contact_this_week[1].suggested_action == pb.fallback.actions[0]
    # top half (>= 800): a, c, e, f by value at risk; limited; excluded keys skipped
    half = build_plan([], members(), values(), valuable_quantile=0.5)
    assert [c.customer_key[0] for c in half.contact_this_week] == ["c", "f", "e", "a"]
    short = build_plan([], members(), values(), valuable_quantile=0.5, contact_limit=2)
    assert [c.customer_key[0] for c in short.contact_this_week] == ["c", "f"]
    kept = build_plan([], members(), values(), exclude={"c@shop.test"})
    assert [c.customer_key for c in kept.contact_this_week] == ["f@shop.test"]
    assert build_plan([], members(), values(), contact_limit=0).contact_this_week == ()
    with pytest.raises(ValueError, match="contact_limit"):
        build_plan([], members(), values(), contact_limit=-1)


def test_user_playbook_reaches_the_plan() -> None:
    pb = read_playbook('[archetypes."At risk"]\nactions = ["Call them today."]', source="x")
    plan = build_plan([], members(), values(), pb)
    assert plan.contact_this_week[0].suggested_action == "Call them today."
    assert plan.playbook_sources == ("default", "x")


# --- the report -------------------------------------------------------------------------


def make_result() -> Any:
    m = members()
    result = _example_result()
    profiles = pd.DataFrame(
        {
            "segment_id": [0, 1, 2],
            "name": ["Champions", "At risk", "Segment 2"],
            "description": ["recent", "lapsed", "average"],
            "size": [2, 3, 1],
            "share_customers": [2 / 6, 3 / 6, 1 / 6],
            "share_revenue": [0.2, 0.5, 0.3],
        }
    )
    projection = m[m["segment_id"] >= 0].assign(x=1.0, y=2.0)
    return replace(result, assignments=m, profiles=profiles, projection=projection)


def test_report_has_the_strategy_section_and_no_customer_keys(tmp_path: Path) -> None:
    run = {"currency": "EUR", "values": values()}
    summary = summarize_run(make_result(), imports=[], run=run)
    st = summary["strategy"]
    json.dumps(summary)
    assert [s["name"] for s in st["segments"]] == [
        "Segment 2",
        "Champions",
        "At risk",
        "Unassigned",
    ]
    assert st["segments"][1]["expected_value"] == 110.0 and st["basis"] == BASIS_MODEL
    html = render_report(summary)
    assert not [k for k in KEYS if k in html]
    section = html[html.index('<section id="strategy">') :]
    section = section[: section.index("</section>")]
    pb = default_playbook()
    for name in ("Champions", "At risk"):
        entry = pb.lookup(name)[1]
        for text in (entry.objective, entry.actions[0], entry.channel, entry.cadence):
            assert text.replace("'", "&#39;") in section
    assert pb.fallback.objective in section
    assert '<td class="num">110.00' in section and "Expected value (EUR)" in section
    assert section.index("Champions") < section.index("At risk")
    assert 'href="#strategy"' in html and '"plot-strategy":' in html

    path = write(tmp_path, '[archetypes.Champions]\nobjective = "Say <thanks> & more."\n')
    custom = summarize_run(make_result(), imports=[], run=run | {"playbook": path})
    text = render_report(custom)
    assert "Say &lt;thanks&gt; &amp; more." in text and "Say <thanks>" not in text
    assert "my.toml" in text and str(tmp_path) not in text


def test_report_without_values_or_strategy() -> None:
    summary = summarize_run(make_result(), imports=[], run={})
    assert summary["strategy"]["basis"] is None and not summary["strategy"]["has_value"]
    html = render_report(summary)
    assert '<section id="strategy">' in html and '"plot-strategy":' not in html
    old = {k: v for k, v in summary.items() if k != "strategy"}
    assert '<section id="strategy">' not in render_report(old)
