"""Audience exports: the file formats, CSV-injection escaping, hashing, e-mail validation.

Consent, suppression, holdout, atomic files and segment lookup: test_export_audience.py.
The helpers here (``make_run``, ``add_contacts``, ``read_dicts``, ``build_shop``) serve both.
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustomer import Workspace
from clustomer.export import (
    FORMATS,
    email_sha256,
    escape_cell,
    export_segment,
    is_valid_email,
    normalize_email,
    unescape_cell,
    write_csv_atomic,
)
from clustomer.store.audiences import load_audience
from clustomer.store.db import Store
from clustomer.store.runs import save_run
from clustomer.store.values import VALUE_COLUMNS

# OWASP's list, ASVS 1.2.10's NUL, a line feed, and the full-width signs
FORMULA_STARTS = (
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\n",
    "\0",
    "\uff1d",
    "\uff0b",
    "\uff0d",
    "\uff20",
)


# -- helpers ------------------------------------------------------------------------
def make_run(store: Store, segments: dict[str, list[str]], *, values: bool = True) -> int:
    """Store a run whose segments (by name) hold these customer keys; values per key."""
    rows = [(key, sid, name) for sid, (name, keys) in enumerate(segments.items()) for key in keys]
    assignments = pd.DataFrame(rows, columns=["customer_key", "segment_id", "segment_name"])
    assignments["rfm_segment"] = None
    profiles = pd.DataFrame({"segment_id": range(len(segments)), "name": list(segments)})
    value_frame = None
    if values:
        keys = assignments["customer_key"]
        n = len(keys)
        value_frame = pd.DataFrame(
            {
                "customer_key": keys,
                "p_active_90d": [0.1 + 0.8 * i / max(n, 1) for i in range(n)],
                "expected_orders_90d": [1.5] * n,
                "expected_revenue_90d": [10.0 + i for i in range(n)],
                "clv_12m": [100.0 + 3.25 * i for i in range(n)],
                "value_confidence": ["high"] * n,
            }
        )
        assert list(value_frame.columns[1:]) == list(VALUE_COLUMNS)
    return save_run(
        store,
        method="kmeans",
        as_of=datetime(2024, 6, 1),
        k=len(segments),
        config={},
        metrics={},
        curves={},
        reason="test",
        profiles=profiles,
        assignments=assignments,
        values=value_frame,
    )


def add_contacts(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """(key, email, first, last[, consent]) rows into contacts and customers."""
    for row in rows:
        key, email, first, last = row[:4]
        store.execute(
            "INSERT OR REPLACE INTO contacts (customer_key, email, first_name, last_name) "
            "VALUES (?, ?, ?, ?)",
            [key, email, first, last],
        )
        consent = row[4] if len(row) > 4 else None
        store.execute(
            "INSERT OR REPLACE INTO customers (customer_key, marketing_consent) VALUES (?, ?)",
            [key, consent],
        )


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def read_dicts(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def build_shop(store: Store) -> Store:
    """A run with Champions (C1..C4, contacts) and At Risk (C5, C6) and values."""
    make_run(store, {"Champions": ["C1", "C2", "C3", "C4"], "At Risk": ["C5", "C6"]})
    add_contacts(
        store,
        [
            ("C1", " Anna@Example.com ", "Anna", "Berg", True),
            ("C2", "bob@example.org", "Bob", "Öberg", None),
            ("C3", "cara@example.net", "Cara", "Diaz", True),
            ("C4", None, "Dan", "Eve", True),
            ("C5", "eve@example.com", "Eve", "Fox", True),
        ],
    )
    return store


@pytest.fixture
def shop(ws: Workspace) -> Store:
    return build_shop(ws.store)


# -- formats ------------------------------------------------------------------------
EXPECTED_HEADERS = {
    "mailchimp": ["Email Address", "First Name", "Last Name", "Tags"],
    "klaviyo": [
        "Email",
        "First Name",
        "Last Name",
        "segment",
        "clv_12m",
        "p_active_90d",
        "top_products",
    ],
    "customer-match": ["Email"],
    "csv": [
        "customer_key",
        "segment",
        "p_active_90d",
        "expected_revenue_90d",
        "clv_12m",
        "email",
        "first_name",
        "last_name",
    ],
}


def test_every_format_is_tested() -> None:
    assert set(FORMATS) == set(EXPECTED_HEADERS)


@pytest.mark.parametrize("fmt", sorted(EXPECTED_HEADERS))
def test_header_and_row_count(shop: Store, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"{fmt}.csv"
    result = export_segment(shop, "Champions", fmt=fmt, out=out)
    rows = read_rows(out)
    assert rows[0] == EXPECTED_HEADERS[fmt]
    assert len(rows) - 1 == result.n_written
    assert all(len(r) == len(rows[0]) for r in rows)
    # UTF-8, no byte-order mark (Mailchimp and Google read UTF-8)
    assert not out.read_bytes().startswith(b"\xef\xbb\xbf")


def test_mailchimp_round_trip(shop: Store, tmp_path: Path) -> None:
    out = tmp_path / "mc.csv"
    result = export_segment(shop, "champions", fmt="mailchimp", out=out)
    got = read_dicts(out)
    assert [r["Email Address"] for r in got] == [
        "Anna@Example.com",
        "bob@example.org",
        "cara@example.net",
    ]
    assert [r["Last Name"] for r in got] == ["Berg", "Öberg", "Diaz"]
    assert {r["Tags"] for r in got} == {"clustomer: Champions"}
    assert result.excluded == {"no email address": 1}
    assert result.n_written == 3


def test_klaviyo_round_trip_with_recommendations(shop: Store, tmp_path: Path) -> None:
    recs = pd.DataFrame(
        {
            "customer_key": ["C1", "C1", "C1", "C1", "C3"],
            "rank": [3, 1, 2, 4, 1],
            "product_id": ["P3", "P1", "P2", "P4", "P9"],
            "product_name": ["Tea Cup", "Kettle", "=Mug", "Spoon", None],
        }
    )
    out = tmp_path / "kl.csv"
    export_segment(shop, "Champions", fmt="klaviyo", out=out, recommendations=recs)
    got = {r["Email"]: r for r in read_dicts(out)}
    assert list(read_rows(out)[0])[0] == "Email"
    values = shop.df(
        "SELECT customer_key, clv_12m, p_active_90d FROM customer_values ORDER BY customer_key"
    ).set_index("customer_key")
    anna = got["Anna@Example.com"]
    assert anna["segment"] == "Champions"
    assert float(anna["clv_12m"]) == pytest.approx(values.loc["C1", "clv_12m"], abs=0.005)
    assert float(anna["p_active_90d"]) == pytest.approx(values.loc["C1", "p_active_90d"], abs=5e-5)
    assert anna["top_products"] == "Kettle | =Mug | Tea Cup"
    assert got["cara@example.net"]["top_products"] == "P9"
    assert got["bob@example.org"]["top_products"] == ""


def test_klaviyo_without_recommendations_leaves_products_empty(shop: Store, tmp_path: Path) -> None:
    out = tmp_path / "kl.csv"
    export_segment(shop, "Champions", fmt="klaviyo", out=out)
    assert {r["top_products"] for r in read_dicts(out)} == {""}


def test_customer_match_round_trip(shop: Store, tmp_path: Path) -> None:
    out = tmp_path / "cm.csv"
    export_segment(shop, "Champions", fmt="customer-match", out=out)
    got = [r["Email"] for r in read_dicts(out)]
    emails = [" Anna@Example.com ", "bob@example.org", "cara@example.net"]
    assert got == [hashlib.sha256(e.strip().lower().encode()).hexdigest() for e in emails]
    text = out.read_text(encoding="utf-8").lower()
    assert "@" not in text and "anna" not in text


def test_csv_round_trip_includes_customers_without_email(shop: Store, tmp_path: Path) -> None:
    out = tmp_path / "plain.csv"
    result = export_segment(shop, "Champions", out=out)
    got = pd.read_csv(out, dtype={"customer_key": str, "email": str})
    assert result.excluded == {}
    assert got["customer_key"].tolist() == ["C1", "C2", "C3", "C4"]
    assert got["email"].isna().tolist() == [False, False, False, True]
    values = shop.df(
        "SELECT customer_key, p_active_90d, expected_revenue_90d, clv_12m FROM customer_values "
        "WHERE customer_key IN ('C1','C2','C3','C4') ORDER BY customer_key"
    )
    for col, tol in (("p_active_90d", 5e-5), ("expected_revenue_90d", 0.005), ("clv_12m", 0.005)):
        assert got[col].tolist() == pytest.approx(values[col].tolist(), abs=tol)


def test_csv_without_values_leaves_value_cells_empty(ws: Workspace, tmp_path: Path) -> None:
    make_run(ws.store, {"All": ["K1", "K2"]}, values=False)
    out = tmp_path / "plain.csv"
    export_segment(ws.store, "All", out=out)
    got = read_dicts(out)
    assert [r["customer_key"] for r in got] == ["K1", "K2"]
    assert {r["clv_12m"] for r in got} == {""}


def test_result_to_dict_is_json_without_addresses(shop: Store, tmp_path: Path) -> None:
    result = export_segment(shop, "Champions", fmt="mailchimp", out=tmp_path / "a.csv")
    text = json.dumps(result.to_dict())
    assert "example" not in text
    assert json.loads(text)["n_written"] == 3
    stored = load_audience(shop, result.audience_id)
    assert stored["format"] == "mailchimp" and stored["excluded"] == result.excluded


# -- CSV injection ------------------------------------------------------------------
def test_formula_cells_are_escaped(ws: Workspace, tmp_path: Path) -> None:
    store = ws.store
    make_run(store, {"=Segment": ["-5", "K2"]})
    add_contacts(
        store,
        [
            ("-5", "a@example.com", '=HYPERLINK("http://evil.example","click")', "+1", True),
            ("K2", "b@example.com", "@SUM(A1)", "\tTab", True),
        ],
    )
    for fmt in ("csv", "mailchimp", "klaviyo"):
        out = tmp_path / f"{fmt}.csv"
        export_segment(store, "=segment", fmt=fmt, out=out)
        rows = read_rows(out)
        for row in rows[1:]:
            for cell in row:
                assert not cell.startswith(FORMULA_STARTS), (fmt, cell)
    got = read_dicts(tmp_path / "csv.csv")
    assert got[0]["first_name"] == "'" + '=HYPERLINK("http://evil.example","click")'
    assert got[0]["last_name"] == "'+1"
    assert [unescape_cell(r["customer_key"]) for r in got] == ["-5", "K2"]
    assert [unescape_cell(r["last_name"]) for r in got] == ["+1", "\tTab"]
    assert unescape_cell(got[1]["first_name"]) == "@SUM(A1)"


def test_every_formula_start_is_escaped_and_round_trips() -> None:
    for start in FORMULA_STARTS:
        text = f"{start}HYPERLINK(1)"
        assert escape_cell(text) == "'" + text, repr(start)
        assert unescape_cell(escape_cell(text)) == text


def test_numbers_are_not_escaped() -> None:
    from clustomer.export.formats import render_cell

    assert render_cell(-3.5, 2) == "-3.50"
    assert render_cell("-3.5") == "'-3.5"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=5))
def test_escaping_round_trips_through_a_file(tmp_path_factory: Any, texts: list[str]) -> None:
    path = tmp_path_factory.mktemp("hyp") / "t.csv"
    escaped = [escape_cell(t) for t in texts]
    assert not any(e.startswith(FORMULA_STARTS) for e in escaped)
    write_csv_atomic(path, [f"c{i}" for i in range(len(texts))], [escaped])
    back = read_rows(path)[1]
    assert [unescape_cell(c) for c in back] == texts


# -- hashing and e-mail validation --------------------------------------------------
def test_hash_normalisation() -> None:
    assert email_sha256(" Foo@Example.COM ") == email_sha256("foo@example.com")
    assert normalize_email("\tFoo@Example.COM\n") == "foo@example.com"
    assert email_sha256("foo@example.com") != email_sha256("foo@example.org")


def test_hash_matches_published_digests() -> None:
    # Gravatar's documentation (docs.gravatar.com/rest/hash) hashes the address
    # "MyEmailAddress@example.com " exactly as the ad platforms ask: trim, lower-case,
    # SHA-256 in hex, and publishes this digest:
    assert (
        email_sha256("MyEmailAddress@example.com ")
        == "84059b07d4be67b806386c0aad8070a23f18836bbaae342275dc0a83414c32ee"
    )
    # ... and, for the untrimmed string, bbb8db82...: proof that trimming matters
    assert (
        hashlib.sha256(b"MyEmailAddress@example.com ").hexdigest()
        == "bbb8db824654275128ce09499cbbeff439840ae68f19f83861c243450dc1d6c7"
    )
    # FIPS 180-2, appendix B.1: SHA-256("abc")
    assert email_sha256("ABC") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        ("anna@example.com", True),
        ("o'neil+news@shop.co.uk", True),
        ("x@münchen.de", True),
        ("=cmd@example.com", False),
        ("-a@example.com", False),
        ("+a@example.com", False),
        ("@example.com", False),
        ("anna@", False),
        ("anna@example", False),
        ("anna@@example.com", False),
        ("an na@example.com", False),
        ("a..b@example.com", False),
        ("anna.@example.com", False),
        ("anna@-example.com", False),
        ("", False),
    ],
)
def test_email_validation(email: str, ok: bool) -> None:
    assert is_valid_email(email) is ok


def test_invalid_and_duplicate_emails_are_excluded(ws: Workspace, tmp_path: Path) -> None:
    store = ws.store
    make_run(store, {"S": ["K1", "K2", "K3", "K4"]})
    add_contacts(
        store,
        [
            ("K1", "=cmd|' /C calc'!A0@x.com", "A", "B"),
            ("K2", "same@example.com", "C", "D"),
            ("K3", " SAME@example.com", "E", "F"),
            ("K4", "   ", "G", "H"),
        ],
    )
    out = tmp_path / "mc.csv"
    result = export_segment(store, "S", fmt="mailchimp", out=out)
    assert result.excluded == {"no email address": 1, "invalid email": 1, "duplicate email": 1}
    assert [r["Email Address"] for r in read_dicts(out)] == ["same@example.com"]
    # the plain CSV keeps them all (the address there is text, escaped)
    plain = export_segment(store, "S", out=tmp_path / "p.csv")
    assert plain.n_written == 4
    assert read_dicts(tmp_path / "p.csv")[0]["email"].startswith("'=")
