"""Campaigns in a workspace: recording an export, measuring from orders and from an
outcome file, and the report's plain data."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime

import pytest

from clustomer.campaign import campaign_report, import_outcomes, record_campaign
from clustomer.errors import ClustomerError, InputError
from clustomer.store import Store
from clustomer.store.campaigns import outcome_count, segment_size

SENT = date(2024, 3, 1)


def add_audience(
    store: Store, segment: str, members: dict[str, str], created: datetime | None = None
) -> int:
    """Insert an export as the audience exporter would: the record and its arms."""
    created = created or datetime(2024, 2, 28, 9, 0, tzinfo=UTC)
    aid = int(store.scalar("SELECT nextval('audience_id_seq')"))
    n_t = sum(arm == "treatment" for arm in members.values())
    store.execute(
        "INSERT INTO audiences VALUES (?, ?, 1, 0, ?, 'csv', 'x.csv', ?, 7, ?, ?, '{}')",
        [aid, created, segment, (len(members) - n_t) / len(members), n_t, len(members) - n_t],
    )
    for key, arm in members.items():
        store.execute("INSERT INTO audience_members VALUES (?, ?, ?)", [aid, key, arm])
    return aid


def add_order(store: Store, key: str, ts: str, revenue: float, is_return: bool = False) -> None:
    store.execute(
        "INSERT INTO order_lines VALUES (?, ?, ?, 'P1', 'thing', 1, ?, ?, 'GBP', ?, 1)",
        [key, f"O-{key}-{ts}", datetime.fromisoformat(ts), revenue, revenue, is_return],
    )


@pytest.fixture
def store(ws) -> Store:
    """A workspace with one exported audience and orders around a 10-day window."""
    s: Store = ws.store
    add_audience(
        s,
        "Champions",
        {
            "A": "treatment",  # buys inside the window
            "B": "treatment",  # bought only before the window
            "C": "treatment",  # buys exactly at the window's end (excluded)
            "F": "treatment",  # buys and returns part inside the window
            "G": "treatment",  # buys on the last day of the window
            "D": "control",  # only a return inside the window
            "E": "control",  # buys at midnight of the sent day
            "H": "control",  # nothing at all
        },
    )
    add_order(s, "A", "2024-03-05 10:00:00", 40.0)
    add_order(s, "A", "2024-04-20 10:00:00", 99.0)  # after the window
    add_order(s, "B", "2024-02-29 23:59:59", 25.0)
    add_order(s, "C", "2024-03-11 00:00:00", 30.0)
    add_order(s, "F", "2024-03-02 12:00:00", 50.0)
    add_order(s, "F", "2024-03-04 12:00:00", -20.0, is_return=True)
    add_order(s, "G", "2024-03-10 23:59:00", 10.0)
    add_order(s, "D", "2024-03-03 08:00:00", -15.0, is_return=True)
    add_order(s, "E", "2024-03-01 00:00:00", 12.0)
    add_order(s, "Z", "2024-05-01 00:00:00", 5.0)  # not a member; orders reach past the window
    return s


def test_conversions_and_revenue_come_from_orders_in_the_window(store):
    cid = record_campaign(store, "Spring", ["champions"], SENT, window_days=10)
    report = campaign_report(store, "spring")
    assert report.campaign_id == cid and report.source == "orders"
    assert (report.sent, report.window_end) == ("2024-03-01", "2024-03-10")
    t, c = report.overall.treatment, report.overall.control
    assert (t.customers, t.conversions) == (5, 3)  # A, F, G
    assert t.revenue == pytest.approx(40 + 50 - 20 + 10)
    assert (c.customers, c.conversions) == (3, 1)  # E; D's return is not a conversion
    assert c.revenue == pytest.approx(12 - 15)  # net: the return counts against revenue
    assert report.overall.abs_lift == pytest.approx(3 / 5 - 1 / 3)
    assert report.overall.test == "fisher"
    assert [s.label for s in report.segments] == ["Champions"]
    assert report.notes == []
    data = report.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["measurable"] is True and "A" not in json.dumps(data["segments"])


def test_orders_ending_inside_the_window_make_the_report_provisional(ws):
    add_audience(ws.store, "Loyal", {"A": "treatment", "B": "control"})
    add_order(ws.store, "A", "2024-03-05 10:00:00", 40.0)
    record_campaign(ws.store, "Early", ["Loyal"], SENT)
    notes = " ".join(campaign_report(ws.store, "Early").notes)
    assert "2024-03-05" in notes and "provisional" in notes
    record_campaign(ws.store, "Later", ["Loyal"], date(2024, 6, 1))
    assert "no orders after the sent date" in " ".join(campaign_report(ws.store, "Later").notes)


def test_the_latest_export_on_or_before_the_sent_date_is_used(ws):
    old = add_audience(ws.store, "Loyal", {"A": "treatment"}, datetime(2024, 1, 5, tzinfo=UTC))
    new = add_audience(
        ws.store, "LOYAL", {"A": "treatment", "B": "control"}, datetime(2024, 3, 1, 23, tzinfo=UTC)
    )
    add_audience(ws.store, "Loyal", {"C": "treatment"}, datetime(2024, 3, 2, 1, tzinfo=UTC))
    record_campaign(ws.store, "March", ["loyal"], SENT)
    assert [a["audience_id"] for a in campaign_report(ws.store, "March").audiences] == [new]
    record_campaign(ws.store, "January", ["Loyal"], date(2024, 1, 5))
    assert [a["audience_id"] for a in campaign_report(ws.store, "January").audiences] == [old]


def test_record_refuses_what_cannot_be_measured(ws):
    with pytest.raises(ClustomerError, match="export the segment first: clustomer export"):
        record_campaign(ws.store, "X", ["Champions"], SENT)
    add_audience(ws.store, "Champions", {"A": "treatment"}, datetime(2024, 3, 5, tzinfo=UTC))
    with pytest.raises(ClustomerError, match="first exported on 2024-03-05, after"):
        record_campaign(ws.store, "X", ["Champions"], SENT)
    aid = add_audience(ws.store, "Loyal", {"A": "treatment", "B": "control"})
    with pytest.raises(ClustomerError, match="whole number of days"):
        record_campaign(ws.store, "X", ["Loyal"], SENT, window_days=0)
    with pytest.raises(ClustomerError, match="name"):
        record_campaign(ws.store, "  ", ["Loyal"], SENT)
    with pytest.raises(ClustomerError, match="no audience with id 99"):
        record_campaign(ws.store, "X", [], SENT, audience_ids=[99])
    with pytest.raises(ClustomerError, match="after the sent date"):
        record_campaign(ws.store, "X", [], SENT, audience_ids=[1])
    with pytest.raises(ClustomerError, match="not the segment of"):
        record_campaign(ws.store, "X", ["Champions"], SENT, audience_ids=[aid])
    with pytest.raises(ClustomerError, match="YYYY-MM-DD"):
        record_campaign(ws.store, "X", ["Loyal"], "1/3/2024")
    record_campaign(ws.store, "X", [], "2024-03-01", audience_ids=[aid])
    with pytest.raises(ClustomerError, match="already exists"):
        record_campaign(ws.store, "x", ["Loyal"], SENT)
    empty = add_audience(ws.store, "Gone", {"A": "control"})
    with pytest.raises(ClustomerError, match="nobody in its treatment arm"):
        record_campaign(ws.store, "Y", [], SENT, audience_ids=[empty])
    assert ws.store.scalar("SELECT count(*) FROM campaigns") == 1
    with pytest.raises(ClustomerError, match="no campaign named 'Nope'"):
        campaign_report(ws.store, "Nope")


def test_without_a_control_group_the_lift_is_not_measurable(ws):
    add_audience(ws.store, "Loyal", {"A": "treatment", "B": "treatment"})
    add_order(ws.store, "A", "2024-03-02 10:00:00", 40.0)
    add_order(ws.store, "Z", "2024-05-02 10:00:00", 1.0)
    record_campaign(ws.store, "All in", ["Loyal"], SENT)
    report = campaign_report(ws.store, "All in")
    assert not report.measurable
    assert report.overall.abs_lift is None and report.overall.p_value is None
    assert report.overall.treatment.conversion_rate == 0.5
    assert any("no control group" in n and "cannot be measured" in n for n in report.notes)
    json.dumps(report.to_dict(), allow_nan=False)


def test_segments_are_reported_apart_and_counted_once_overall(ws):
    add_audience(ws.store, "Loyal", {"A": "treatment", "B": "control", "C": "treatment"})
    add_audience(ws.store, "At risk", {"C": "control", "D": "treatment", "E": "control"})
    for key in "ACD":
        add_order(ws.store, key, "2024-03-03 10:00:00", 10.0)
    add_order(ws.store, "Z", "2024-05-02 10:00:00", 1.0)
    record_campaign(ws.store, "Both", ["Loyal", "At risk"], SENT)
    report = campaign_report(ws.store, "Both")
    assert [s.label for s in report.segments] == ["Loyal", "At risk"]
    loyal, risk = report.segments
    assert (loyal.treatment.customers, loyal.control.customers) == (2, 1)
    assert (risk.treatment.customers, risk.control.customers) == (1, 2)
    assert risk.control.conversions == 1  # C, in this audience's control arm
    overall = report.overall
    # C counts once, in treatment (it was sent the Loyal mail)
    assert (overall.treatment.customers, overall.control.customers) == (3, 2)
    assert (overall.treatment.conversions, overall.control.conversions) == (3, 0)
    assert overall.rel_lift is None and overall.abs_lift == 1.0
    assert any("not adjusted" in n for n in report.notes)


def test_an_outcome_file_takes_precedence_over_orders(store, write_file):
    record_campaign(store, "Spring", ["Champions"], SENT, window_days=10)
    path = write_file(
        "outcomes.csv",
        "Customer ID;Converted;Revenue\n"
        "A;no;\n"
        "B;Yes;12,5\n"
        "c;1;30\n"  # key differing in case only
        "D;TRUE;7\n"
        "\n"
        "nobody;1;100\n",  # not a member: counted and ignored
    )
    result = import_outcomes(store, "Spring", path)
    assert (result.rows, result.matched, result.not_members, result.converted) == (5, 4, 1, 3)
    assert result.has_revenue
    report = campaign_report(store, "Spring")
    assert report.source == "outcome file"
    t, c = report.overall.treatment, report.overall.control
    assert (t.conversions, c.conversions) == (2, 1)  # B, C / D; unlisted F, G do not count
    assert t.revenue == pytest.approx(42.5) and c.revenue == pytest.approx(7.0)
    notes = " ".join(report.notes)
    assert "lists 3 of 5 treatment members" in notes and "lists 1 of 3 control" in notes


def test_an_outcome_file_without_revenue_takes_revenue_from_orders(store, write_file):
    record_campaign(store, "Spring", ["Champions"], SENT, window_days=10)
    rows = "".join(f"{k},0\n" for k in "BCFGDEH")
    import_outcomes(store, "Spring", write_file("o.csv", "customer_key,converted\nA,1\n" + rows))
    report = campaign_report(store, "Spring")
    assert report.overall.treatment.conversions == 1
    assert report.overall.treatment.revenue == pytest.approx(80.0)  # from orders
    assert any("revenue comes from orders" in n for n in report.notes)


@pytest.mark.parametrize(
    ("content", "line", "column", "message"),
    [
        ("customer,converted\nA,1\nB,maybe\n", 3, "converted", "cannot read 'maybe'"),
        ("customer,converted,revenue\nA,1,5\nB,0,\nE,1,12 GBP\n", 4, "revenue", "revenue"),
        ("customer,converted\nA,1\n,0\n", 3, "customer", "no customer key"),
        ("customer,converted\nA,1\nB,1\nA.0,0\n", 4, "customer", "first on line 2"),
        ("customer,converted\nA,1\nB,1,7\n", 3, None, "expected 2 fields, found 3"),
        ("customer,converted\nA,1\nB,nan\n", 3, "converted", "1/0, true/false"),
        ("customer,converted,revenue\nA,1,inf\n", 2, "revenue", "plain number"),
        # a line separator or form feed inside a cell does not end a line
        ('customer,note,converted\nA,"x\u2028y",1\nB,z,maybe\n', 3, "converted", "'maybe'"),
        ("customer,note,converted\nA,x\fy,1\nB,z,maybe\n", 3, "converted", "'maybe'"),
    ],
)
def test_a_bad_outcome_line_names_line_and_column_and_stores_nothing(
    store, write_file, content, line, column, message
):
    cid = record_campaign(store, "Spring", ["Champions"], SENT, window_days=10)
    import_outcomes(store, "Spring", write_file("good.csv", "customer,converted\nA,1\nE,1\n"))
    before = campaign_report(store, "Spring").to_dict()
    with pytest.raises(InputError, match=message) as err:
        import_outcomes(store, "Spring", write_file("bad.csv", content))
    assert (err.value.file, err.value.line, err.value.column) == ("bad.csv", line, column)
    assert f"bad.csv, line {line}" in str(err.value)
    assert outcome_count(store, cid) == 2  # the earlier file's rows, untouched
    assert campaign_report(store, "Spring").to_dict() == before


def test_outcome_files_that_cannot_be_used(store, write_file):
    cid = record_campaign(store, "Spring", ["Champions"], SENT, window_days=10)
    cases = [
        ("email,converted\nanna@example.com,1\n", "no customer column"),
        ("customer,bought\nA,1\n", "no 'converted' column"),
        ("customer,converted\n", "no rows"),
        ("", "empty"),
        ("customer,converted\nX1,1\nX2,0\n", "none of its 2 customers is a member"),
    ]
    for content, message in cases:
        with pytest.raises(InputError, match=message) as err:
            import_outcomes(store, "Spring", write_file("o.csv", content))
        assert "anna@example.com" not in str(err.value)
    bad_bytes = write_file("latin.csv", "customer,converted\nA,1\nB\xe9,0\n".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8") as err:
        import_outcomes(store, "Spring", bad_bytes)
    assert err.value.line == 3
    with pytest.raises(ClustomerError, match="no campaign named"):
        import_outcomes(store, "Autumn", write_file("o.csv", "customer,converted\nA,1\n"))
    assert outcome_count(store, cid) == 0


def test_report_numbers_are_finite_or_none(store):
    record_campaign(store, "Spring", ["Champions"], SENT, window_days=10)

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, float):
            assert math.isfinite(value)

    walk(campaign_report(store, "Spring").to_dict())


def test_segment_size_reads_the_latest_run(ws):
    assert segment_size(ws.store, "Champions") is None
    ws.store.execute(
        "INSERT INTO runs (run_id, created_at, method, as_of, k, n_customers) "
        "VALUES (1, now(), 'kmeans', now(), 2, 3)"
    )
    for key, name in [("A", "Champions"), ("B", "Champions"), ("C", "Lost")]:
        ws.store.execute(
            "INSERT INTO assignments (run_id, customer_key, segment_id, segment_name) "
            "VALUES (1, ?, 0, ?)",
            [key, name],
        )
    assert segment_size(ws.store, "champions") == 2
