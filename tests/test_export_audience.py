"""Audience exports: consent and suppression, holdout groups, atomic files, segment lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from clustomer import Workspace
from clustomer.errors import ClustomerError, InputError
from clustomer.export import (
    add_suppression,
    email_sha256,
    export_segment,
    parse_holdout,
    suppressed_keys,
    write_csv_atomic,
)
from clustomer.store.audiences import audience_members, list_suppressions, load_audience
from clustomer.store.db import Store
from test_export import add_contacts, build_shop, make_run, read_dicts


@pytest.fixture
def shop(ws: Workspace) -> Store:
    return build_shop(ws.store)


# -- consent and suppression ---------------------------------------------------------
def test_unconsented_excluded_by_default_and_included_on_request(
    shop: Store, tmp_path: Path
) -> None:
    shop.execute("UPDATE customers SET marketing_consent = FALSE WHERE customer_key = 'C3'")
    default = export_segment(shop, "Champions", fmt="mailchimp", out=tmp_path / "a.csv")
    assert default.excluded == {"no marketing consent": 1, "no email address": 1}
    assert "cara@example.net" not in {r["Email Address"] for r in read_dicts(tmp_path / "a.csv")}
    forced = export_segment(
        shop, "Champions", fmt="mailchimp", out=tmp_path / "b.csv", include_unconsented=True
    )
    assert forced.excluded == {"no email address": 1}
    assert "cara@example.net" in {r["Email Address"] for r in read_dicts(tmp_path / "b.csv")}


def test_unknown_consent_is_exported(ws: Workspace, tmp_path: Path) -> None:
    # no customers row at all, and a NULL consent: the source does not say
    make_run(ws.store, {"S": ["K1", "K2"]})
    ws.store.execute("INSERT INTO contacts (customer_key, email) VALUES ('K1', 'k1@example.com')")
    add_contacts(ws.store, [("K2", "k2@example.com", None, None, None)])
    result = export_segment(ws.store, "S", fmt="customer-match", out=tmp_path / "a.csv")
    assert result.n_written == 2 and result.excluded == {}


def test_suppressed_never_exported_even_with_override(shop: Store, tmp_path: Path) -> None:
    add_suppression(shop, "C2", "asked by phone")
    kind, value = add_suppression(shop, "  ANNA@example.COM", "unsubscribed")
    assert kind == "email_sha256" and value == email_sha256("anna@example.com")
    listed = list_suppressions(shop)
    assert "anna" not in listed.to_string().lower()
    assert set(listed["kind"]) == {"customer_key", "email_sha256"}
    for fmt in ("csv", "mailchimp", "customer-match"):
        out = tmp_path / f"{fmt}.csv"
        result = export_segment(shop, "Champions", fmt=fmt, out=out, include_unconsented=True)
        assert result.excluded["suppressed"] == 2, fmt
        text = out.read_text(encoding="utf-8").lower()
        assert "anna" not in text and "bob" not in text
        assert email_sha256("anna@example.com") not in text


def test_suppressed_email_that_reappears_later_stays_excluded(shop: Store, tmp_path: Path) -> None:
    add_suppression(shop, "anna@example.com", "unsubscribed")
    # a later import brings the same person back under a new key, cased differently
    make_run(shop, {"Champions": ["C1", "C2", "N7"]})
    add_contacts(shop, [("N7", "ANNA@EXAMPLE.COM ", "Anna", "Berg", True)])
    assert {"C1", "N7"} <= suppressed_keys(shop)
    result = export_segment(
        shop, "Champions", fmt="klaviyo", out=tmp_path / "k.csv", include_unconsented=True
    )
    assert result.excluded == {"suppressed": 2}
    assert [r["Email"] for r in read_dicts(tmp_path / "k.csv")] == ["bob@example.org"]


def test_add_suppression_is_idempotent_and_checks_input(ws: Workspace) -> None:
    add_suppression(ws.store, "a@example.com")
    add_suppression(ws.store, "A@example.com ")
    assert len(list_suppressions(ws.store)) == 1
    add_suppression(ws.store, "F" * 64, kind="email_sha256")
    assert ("f" * 64) in set(list_suppressions(ws.store)["value"])
    with pytest.raises(InputError):
        add_suppression(ws.store, "  ")
    with pytest.raises(InputError):
        add_suppression(ws.store, "not-a-digest", kind="email_sha256")


# -- holdout ------------------------------------------------------------------------
@pytest.fixture
def big(ws: Workspace) -> Store:
    """One segment of 1,000 customers, every one with a valid address."""
    keys = [f"K{i:04d}" for i in range(1000)]
    make_run(ws.store, {"Everyone": keys}, values=False)
    frame = pd.DataFrame(
        {"customer_key": keys, "email": [f"{k.lower()}@example.com" for k in keys]}
    )
    ws.store.con.register("t_contacts", frame)
    ws.store.execute("INSERT INTO contacts (customer_key, email) SELECT * FROM t_contacts")
    ws.store.con.unregister("t_contacts")
    return ws.store


def test_holdout_share_arms_and_file(big: Store, tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    result = export_segment(big, "Everyone", fmt="csv", out=out, holdout="10%", seed=42)
    assert abs(result.n_control / 1000 - 0.10) <= 0.02
    assert result.n_written + result.n_control == 1000
    arms = audience_members(big, result.audience_id)
    assert len(arms) == 1000
    counts = arms["arm"].value_counts().to_dict()
    assert counts == {"treatment": result.n_written, "control": result.n_control}
    control = set(arms.loc[arms["arm"] == "control", "customer_key"])
    written = {r["customer_key"] for r in read_dicts(out)}
    assert not control & written
    assert written == set(arms.loc[arms["arm"] == "treatment", "customer_key"])
    stored = load_audience(big, result.audience_id)
    assert stored["seed"] == 42 and stored["holdout_share"] == pytest.approx(0.10)
    assert stored["n_control"] == result.n_control


def test_holdout_same_seed_same_split(big: Store, tmp_path: Path) -> None:
    def control(seed: int) -> set[str]:
        res = export_segment(big, "Everyone", out=tmp_path / "x.csv", holdout=0.2, seed=seed)
        arms = audience_members(big, res.audience_id)
        return set(arms.loc[arms["arm"] == "control", "customer_key"])

    first, again, other = control(7), control(7), control(8)
    assert first == again
    assert first != other
    assert len(first) == len(other)


def test_holdout_without_seed_records_a_seed(big: Store, tmp_path: Path) -> None:
    result = export_segment(big, "Everyone", out=tmp_path / "x.csv", holdout=5)
    assert result.seed is not None
    assert load_audience(big, result.audience_id)["seed"] == result.seed
    again = export_segment(big, "Everyone", out=tmp_path / "y.csv", holdout=5, seed=result.seed)
    a = audience_members(big, result.audience_id)
    b = audience_members(big, again.audience_id)
    assert a["arm"].tolist() == b["arm"].tolist()


def test_holdout_zero_records_everyone_as_treatment(shop: Store, tmp_path: Path) -> None:
    result = export_segment(shop, "Champions", out=tmp_path / "x.csv")
    assert result.n_control == 0
    arms = audience_members(shop, result.audience_id)
    assert arms["customer_key"].tolist() == ["C1", "C2", "C3", "C4"]
    assert set(arms["arm"]) == {"treatment"}


@pytest.mark.parametrize(
    ("given_", "share"),
    [
        ("10%", 0.1),
        ("0.1", 0.1),
        (10, 0.1),
        (0.1, 0.1),
        (" 12.5 % ", 0.125),
        ("0", 0.0),
        (None, 0.0),
        ("1", 0.01),
        ("99%", 0.99),
    ],
)
def test_parse_holdout(given_: Any, share: float) -> None:
    assert parse_holdout(given_) == pytest.approx(share)


@pytest.mark.parametrize("bad", ["ten", "", "-5%", "100%", 100, 250, "nan", True, "1e999"])
def test_parse_holdout_refuses(bad: Any) -> None:
    with pytest.raises(InputError, match="holdout"):
        parse_holdout(bad)


# -- atomic files -------------------------------------------------------------------
def test_error_mid_write_leaves_no_file(tmp_path: Path) -> None:
    def rows() -> Any:
        yield ["a@example.com"]
        raise RuntimeError("disk full")

    out = tmp_path / "new.csv"
    with pytest.raises(RuntimeError):
        write_csv_atomic(out, ["Email"], rows())
    assert list(tmp_path.iterdir()) == []


def test_error_mid_write_keeps_old_file(tmp_path: Path) -> None:
    out = tmp_path / "old.csv"
    out.write_bytes(b"old contents\n")

    def rows() -> Any:
        for i in range(1000):
            if i == 500:
                raise OSError("disk full")
            yield [f"k{i}@example.com"]

    with pytest.raises(ClustomerError, match="cannot write .*old.csv: disk full"):
        write_csv_atomic(out, ["Email"], rows())
    assert out.read_bytes() == b"old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["old.csv"]


def test_failed_export_records_nothing(
    shop: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import clustomer.export.audience as audience

    out = tmp_path / "a.csv"
    out.write_text("previous export\n")
    real = audience.render_rows

    def broken(*args: Any, **kwargs: Any) -> Any:
        rows = real(*args, **kwargs)
        yield next(rows)
        raise OSError("disk full")

    monkeypatch.setattr(audience, "render_rows", broken)
    with pytest.raises(ClustomerError, match="disk full"):
        export_segment(shop, "Champions", out=out, holdout="50%", seed=1)
    assert out.read_text() == "previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]
    assert shop.scalar("SELECT count(*) FROM audiences") == 0
    assert shop.scalar("SELECT count(*) FROM audience_members") == 0


def test_default_path_and_missing_folder(shop: Store, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    result = export_segment(shop, "At Risk", fmt="customer-match")
    assert result.path == Path("audience-at-risk-customer-match.csv")
    assert (tmp_path / result.path).exists()
    nested = export_segment(shop, "At Risk", out=tmp_path / "new" / "dir" / "a.csv")
    assert nested.path.exists()


# -- finding the segment ----------------------------------------------------------
def test_unknown_segment_lists_names(shop: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        export_segment(shop, "Whales", out=tmp_path / "a.csv")
    message = str(err.value)
    assert "Whales" in message and "Champions" in message and "At Risk" in message
    assert not (tmp_path / "a.csv").exists()


def test_segment_by_id_and_name_any_case(shop: Store, tmp_path: Path) -> None:
    by_id = export_segment(shop, "1", out=tmp_path / "a.csv")
    by_int = export_segment(shop, 1, out=tmp_path / "b.csv")
    by_name = export_segment(shop, "  at RISK ", out=tmp_path / "c.csv")
    assert by_id.segment == by_int.segment == by_name.segment == "At Risk"
    assert by_id.segment_id == 1


def test_latest_run_by_default_or_a_given_run(shop: Store, tmp_path: Path) -> None:
    first = int(shop.scalar("SELECT max(run_id) FROM runs"))
    make_run(shop, {"Champions": ["C1"]})
    latest = export_segment(shop, "Champions", out=tmp_path / "a.csv")
    older = export_segment(shop, "Champions", out=tmp_path / "b.csv", run_id=first)
    assert latest.n_written == 1 and latest.run_id == first + 1
    assert older.n_written == 4 and older.run_id == first
    with pytest.raises(ClustomerError, match="no run 99"):
        export_segment(shop, "Champions", out=tmp_path / "c.csv", run_id=99)


def test_no_run_and_unknown_format(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ClustomerError, match="no segmentation"):
        export_segment(ws.store, "Champions", out=tmp_path / "a.csv")
    make_run(ws.store, {"S": ["K1"]})
    with pytest.raises(InputError, match="mailchimp, klaviyo, customer-match, csv"):
        export_segment(ws.store, "S", fmt="excel", out=tmp_path / "a.csv")


# -- review of issue 5: suppression matching, unwritable targets -----------------------
def test_suppressed_key_matches_any_case_and_float_form(shop: Store, tmp_path: Path) -> None:
    add_suppression(shop, "c1")  # the workspace key is "C1"
    kind, value = add_suppression(shop, "C2.0")  # as a spreadsheet may print the key
    assert (kind, value) == ("customer_key", "C2")
    result = export_segment(shop, "Champions", fmt="csv", out=tmp_path / "a.csv")
    assert result.excluded["suppressed"] == 2
    assert {r["customer_key"] for r in read_dicts(tmp_path / "a.csv")} == {"C3", "C4"}
    assert {"C1", "C2"} <= suppressed_keys(shop)


def test_key_that_is_a_suppressed_address_is_excluded(ws: Workspace, tmp_path: Path) -> None:
    # Shopify: the customer key is the address; here there is no contact row to match
    make_run(ws.store, {"S": ["anna@example.com", "bob@example.com"]})
    add_suppression(ws.store, "Anna@Example.com ")
    result = export_segment(ws.store, "S", fmt="csv", out=tmp_path / "a.csv")
    assert result.excluded == {"suppressed": 1} and result.n_written == 1
    assert "anna" not in (tmp_path / "a.csv").read_text(encoding="utf-8")
    assert "anna@example.com" in suppressed_keys(ws.store)


def test_unwritable_target_names_the_file_not_a_temporary(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        write_csv_atomic(tmp_path, ["Email"], [])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ClustomerError, match=r"cannot write .*file[/\\]a\.csv") as info:
        write_csv_atomic(blocker / "a.csv", ["Email"], [])
    assert ".tmp" not in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
