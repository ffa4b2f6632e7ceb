"""Erasure: every table covered, the v4 → v5 upgrade, DuckDB's free blocks, and
``forget`` end to end — after it, no file in the workspace's folder holds the person."""

from __future__ import annotations

import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

import clustomer
from clustomer.cli_privacy import register
from clustomer.errors import WorkspaceError
from clustomer.export.suppression import add_suppression
from clustomer.privacy import forget, forgotten_filter, load_or_create_key, pseudonym
from clustomer.store.db import Store
from clustomer.store.erase import customer_tables, erase_customer, find_traces, rewrite_file
from clustomer.store.migrations import LATEST_VERSION, MIGRATIONS, current_version

ANNA = "Anna.Secret@Example.org"  # customers C0007 and C0009 (the same address)
BOB = "bob.private@example.net"  # a customer whose key is the address (as in Shopify)
PHONE = "+442079460958"

#: Tables with a customer_key column. A new one fails this list on purpose: check that
#: erase_customer covers it (it does, from information_schema) and whether its other
#: columns hold keys or contact details (then extend erase_customer and find_traces).
CUSTOMER_TABLES = [
    "assigned",
    "assignments",
    "audience_members",
    "campaign_outcomes",
    "contacts",
    "customer_sources",
    "customer_values",
    "customers",
    "identity_links",
    "identity_overrides",
    "line_sources",
    "order_lines",
    "payment_duplicates",
]
#: Text, JSON and BLOB columns of the other tables, each reviewed: what they hold.
REVIEWED_COLUMNS = {
    "audiences": {"segment_name", "format", "file_name", "excluded"},  # counts by reason
    "backtests": {"best_model", "results"},  # metrics per model, no customer rows
    "campaigns": {"name", "audience_ids"},
    "forgotten": {"kind", "value"},  # pseudonyms only
    "import_drops": {"reason"},
    "import_rejects": {"column_name", "value", "message"},  # raw cells: erased by value
    "imports": {"file_name", "content_hash", "layout", "mapping", "currency"},
    "run_models": {"feature_columns", "model"},  # model: centres, no keys (checked below)
    "runs": {"method", "config", "metrics", "curves", "reason", "profiles", "details"},
    "schema_migrations": {"description"},
    "suppressions": {"kind", "value", "reason"},  # keys and e-mail digests: erased
}


def grep(folder: Path, *needles: str) -> list[str]:
    """``file: needle`` for every file under ``folder`` that holds a needle: an e-mail
    address in any case, anything else (customer keys, phones) as given.

    Keys are matched exactly: the workspace holds lowercase hex pseudonyms (HMAC-SHA256),
    and a key like ``C0007`` matched in any case sits inside one of them now and then
    (7,680 hex characters after a forget: about 0.7 % of runs, each with a fresh key;
    a CI run failed so)."""
    hits = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        raw = file.read_bytes()
        low = raw.lower()
        for n in needles:
            found = n.lower().encode() in low if "@" in n else n.encode() in raw
            if found:
                hits.append(f"{file.name}: {n}")
    return hits


# -- coverage ---------------------------------------------------------------------------
def test_every_customer_table_is_known_and_reviewed() -> None:
    store = Store(":memory:")
    try:
        assert customer_tables(store) == CUSTOMER_TABLES
        text = store.rows(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND data_type IN ('VARCHAR', 'JSON', "
            "'BLOB') AND table_name NOT IN (SELECT unnest(?::VARCHAR[]))",
            [CUSTOMER_TABLES],
        )
        found: dict[str, set[str]] = {}
        for table, column in text:
            found.setdefault(table, set()).add(column)
        assert found == REVIEWED_COLUMNS
    finally:
        store.close()


_VALUES = {
    "VARCHAR": "'x'",
    "JSON": "'{}'",
    "BLOB": "'\\x00'::BLOB",
    "BOOLEAN": "false",
    "TIMESTAMP": "TIMESTAMP '2024-01-01'",
    "TIMESTAMP WITH TIME ZONE": "now()",
}


def test_erase_clears_a_row_in_every_customer_table(ws: clustomer.Workspace) -> None:
    store = ws.store
    for table in customer_tables(store):
        cols = store.rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? AND table_catalog = current_database() "
            "ORDER BY ordinal_position",
            [table],
        )
        values = [
            "'K1'" if name == "customer_key" else _VALUES.get(str(dtype), "1")
            for name, dtype in cols
        ]
        store.execute(f'INSERT INTO "{table}" VALUES ({", ".join(values)})')
        store.execute(
            f'INSERT INTO "{table}" SELECT * REPLACE (\'K2\' AS customer_key) FROM "{table}"'
        )
    counts = erase_customer(store, ["K1"])
    assert {t: counts[t] for t in CUSTOMER_TABLES} == dict.fromkeys(CUSTOMER_TABLES, 1)
    for table in CUSTOMER_TABLES:
        assert store.rows(f'SELECT customer_key FROM "{table}"') == [("K2",)]


# -- the schema -------------------------------------------------------------------------
def test_a_version_4_workspace_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR, "
        "applied_at TIMESTAMPTZ DEFAULT current_timestamp)"
    )
    for step in MIGRATIONS[:4]:
        step.apply(con)
        con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [step.version])
    con.execute("INSERT INTO contacts (customer_key, email) VALUES ('C1', 'a@example.org')")
    con.close()
    store = Store(path, create=False)
    try:
        assert LATEST_VERSION == 6 and current_version(store.con) == 6
        assert store.rows(
            "SELECT customer_key, email, email_hash, phone, phone_hash FROM contacts"
        ) == [("C1", "a@example.org", None, None, None)]
        assert store.scalar("SELECT count(*) FROM forgotten") == 0
        store.execute(
            "INSERT INTO forgotten VALUES ('email_hash', 'ab', now()), ('phone_hash', 'ab', now())"
        )
        with pytest.raises(duckdb.ConstraintException):
            store.execute("INSERT INTO forgotten VALUES ('email_hash', 'ab', now())")
        store.execute("DELETE FROM forgotten")
        store.execute("INSERT INTO contacts (customer_key, email) VALUES ('C2', 'b@example.org')")
        key = tmp_path / "k"
        forget(store, "C2", key_file=key)  # fills in the pseudonyms it needs
        assert store.rows("SELECT customer_key, email_hash FROM contacts") == [
            ("C1", pseudonym("email", "a@example.org", load_or_create_key(key)))
        ]
    finally:
        store.close()


def test_a_failed_rewrite_leaves_the_workspace_open_and_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ws.duckdb"
    store = Store(path)
    try:
        store.execute("INSERT INTO customers (customer_key) VALUES ('C1')")

        def refuse(src: object, dst: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("clustomer.store.erase.os.replace", refuse)
        with pytest.raises(WorkspaceError, match="could not replace workspace .*Permission"):
            rewrite_file(store)
        monkeypatch.undo()
        assert store.scalar("SELECT count(*) FROM customers") == 1  # open again
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ws.duckdb"]  # no leftover
    finally:
        store.close()


# -- the file ---------------------------------------------------------------------------
def test_deleted_bytes_stay_until_the_file_is_rewritten(tmp_path: Path) -> None:
    store = Store(tmp_path / "ws.duckdb")
    try:
        store.execute(
            "INSERT INTO contacts (customer_key, email) SELECT 'C' || i, 'user' || i || "
            "'@shop.example' FROM range(2000) r(i)"
        )
        store.execute("INSERT INTO contacts (customer_key, email) VALUES ('C-1', ?)", [ANNA])
        store.execute("CHECKPOINT")
        assert grep(tmp_path, ANNA)  # the control: the address is in the file as text
        store.execute("DELETE FROM contacts WHERE customer_key = 'C-1'")
        store.execute("CHECKPOINT")
        # DuckDB (2.0) keeps the deleted row's bytes in a free block: deleting is not erasing
        assert grep(tmp_path, ANNA)
        rewrite_file(store)
        assert grep(tmp_path, ANNA) == []
        assert store.scalar("SELECT count(*) FROM contacts") == 2000
    finally:
        store.close()


# -- forget, end to end -----------------------------------------------------------------
@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace folder: 60 customers imported with e-mails, segmented, outputs written."""
    import random

    from clustomer.pipeline import run_segment

    rng = random.Random(3)
    lines = ["customer_id,order_id,order_date,product_id,quantity,unit_price,currency,email"]
    order = 0
    for c in range(60):
        key, email = f"C{c:04d}", f"user{c}@shop.example"
        if c in (7, 9):
            email = ANNA if c == 7 else ANNA.lower()
        if c == 8:
            key, email = BOB, ""
        for _ in range(1 + c % 4):
            order += 1
            for _ in range(1 + rng.randrange(3)):
                lines.append(
                    f"{key},O{order:05d},2024-{1 + rng.randrange(11):02d}-"
                    f"{1 + rng.randrange(28):02d} 10:00:00,P{rng.randrange(20):02d},"
                    f"{1 + rng.randrange(3)},{rng.uniform(2, 50):.2f},EUR,{email}"
                )
    source = tmp_path_factory.mktemp("source") / "orders.csv"
    source.write_text("\n".join(lines) + "\n")
    folder = tmp_path_factory.mktemp("shop")
    run_segment(source, workspace=folder / "shop.duckdb", out_dir=folder / "out")
    return folder


@pytest.fixture
def shop_copy(shop: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the shop folder, with Anna in every other table too."""
    folder = tmp_path / "shop"
    shutil.copytree(shop, folder)
    store = Store(folder / "shop.duckdb", create=False)
    try:
        store.execute("UPDATE contacts SET phone = ? WHERE customer_key = 'C0007'", [PHONE])
        store.execute(
            "INSERT INTO audiences (audience_id, created_at, segment_name, format, file_name, "
            "holdout_share, n_treatment, n_control) VALUES (1, now(), 'All', 'csv', "
            "'/exports/all.csv', 0.1, 2, 1)"
        )
        store.execute(
            "INSERT INTO audience_members VALUES (1, 'C0007', 'treatment'), "
            f"(1, '{BOB}', 'treatment'), (1, 'C0001', 'control')"
        )
        store.execute(
            "INSERT INTO campaigns VALUES (1, 'spring', now(), TIMESTAMP '2024-12-01', 30, '[1]')"
        )
        store.execute(
            "INSERT INTO campaign_outcomes VALUES (1, 'C0007', true, 20), (1, 'C0001', false, 0)"
        )
        store.execute(
            "INSERT INTO assigned SELECT run_id, customer_key, segment_id, segment_name, "
            "probability, TIMESTAMP '2025-01-01', 'new.csv', now() FROM assignments"
        )
        store.execute(
            "INSERT INTO import_rejects VALUES (1, 9, 'amount', ?, 'not a number'), "
            "(1, 10, 'amount', 'C0009', 'not a number'), (1, 11, 'amount', 'abc', 'x')",
            [ANNA.upper()],
        )
        add_suppression(store, "C0009", "unsubscribed")
        add_suppression(store, ANNA, "unsubscribed")
        add_suppression(store, "C0002", "unsubscribed")
    finally:
        store.close()
    yield folder


def test_forget_leaves_no_trace_in_the_folder(shop_copy: Path, tmp_path: Path) -> None:
    ws = shop_copy / "shop.duckdb"
    needles = (ANNA, PHONE, "C0007", "C0009")
    assert grep(shop_copy / "out", "C0007", "C0009")  # the controls: they are there
    assert any(hit.startswith("shop.duckdb") for hit in grep(shop_copy, ANNA))
    store = Store(ws, create=False)
    lines_before = store.scalar("SELECT count(*) FROM order_lines")
    theirs = store.scalar(
        "SELECT count(*) FROM order_lines WHERE customer_key IN ('C0007', 'C0009')"
    )
    store.close()
    ws.chmod(0o640)

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    key_file = tmp_path / "keys" / "pseudonym.key"  # outside the folder searched
    result = CliRunner().invoke(
        app,
        [
            "forget",
            f" {ANNA.upper()} ",
            "-w",
            str(ws),
            "--out",
            str(shop_copy / "out"),
            "--key-file",
            str(key_file),
            "--yes",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "secret" not in result.output.lower()
    assert "Erased a***@example.org: 2 customer key(s)" in result.stdout
    assert "/exports/all.csv may still hold them" in result.output

    assert grep(shop_copy, *needles) == []
    assert sorted(p.name for p in shop_copy.iterdir()) == ["out", "shop.duckdb"]  # no .wal
    assert stat.S_IMODE(ws.stat().st_mode) == 0o640
    store = Store(ws, create=False)
    try:
        assert store.scalar("SELECT count(*) FROM order_lines") == lines_before - theirs > 0
        assert store.scalar("SELECT count(*) FROM customers") == 58
        assert store.scalar("SELECT count(*) FROM campaign_outcomes") == 1
        assert store.rows("SELECT value FROM import_rejects") == [("abc",)]
        assert store.rows("SELECT value FROM suppressions") == [("C0002",)]
        assert find_traces(store, texts=[ANNA, PHONE], keys=["C0007", "C0009"]) == {}
        assert store.scalar("SELECT count(*) FROM forgotten WHERE kind = 'customer_key_hash'") == 2
        erased = forgotten_filter(store, key_file=key_file)
        assert erased.is_forgotten("C0007") and erased.is_forgotten("X", email=ANNA)
        assert not erased.is_forgotten("C0001")
    finally:
        store.close()


def test_forget_by_key_finds_the_same_person_and_twice_is_harmless(
    shop_copy: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "pseudonym.key"
    store = Store(shop_copy / "shop.duckdb", create=False)
    try:
        first = forget(store, "C0009", key_file=key_file, out_dir=shop_copy / "out")
        assert first.customers == 2  # C0009 leads to the address, the address to C0007
        # one row: C0007 and C0009 share the address, so they are one customer from import
        assert first.outputs["segments.csv"] == 1
        assert first.outputs["report.html"] == "holds no customer keys or contacts"
        assert "anna" not in repr(first).lower() and "anna" not in str(first.to_dict()).lower()
        entries = store.rows("SELECT kind, value FROM forgotten ORDER BY ALL")
        second = forget(store, "C0009", key_file=key_file, out_dir=shop_copy / "out")
        assert (second.customers, second.rows, second.recorded) == (0, 0, 0)
        assert second.outputs["segments.csv"] == 0
        assert store.rows("SELECT kind, value FROM forgotten ORDER BY ALL") == entries
    finally:
        store.close()
    assert grep(shop_copy, ANNA, "C0007", "C0009") == []


def test_forget_a_key_that_is_the_address(shop_copy: Path, tmp_path: Path) -> None:
    store = Store(shop_copy / "shop.duckdb", create=False)
    try:
        result = forget(store, BOB.upper(), key_file=tmp_path / "k", out_dir=shop_copy / "out")
        assert result.customers == 1 and result.deleted["audience_members"] == 1
        assert result.outputs["segments.csv"] == 1
    finally:
        store.close()
    assert grep(shop_copy, BOB) == []


def test_rewrite_keeps_every_table_and_sequence(shop_copy: Path) -> None:
    store = Store(shop_copy / "shop.duckdb", create=False)
    try:
        tables = [
            t
            for (t,) in store.rows(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() ORDER BY 1"
            )
        ]
        before = {t: store.rows(f'SELECT * FROM "{t}" ORDER BY ALL') for t in tables}
        seqs = store.rows(
            "SELECT sequence_name, last_value FROM duckdb_sequences() "
            "WHERE database_name = current_database() ORDER BY 1"
        )
        rewrite_file(store)
        assert {t: store.rows(f'SELECT * FROM "{t}" ORDER BY ALL') for t in tables} == before
        assert (
            store.rows(
                "SELECT sequence_name, last_value FROM duckdb_sequences() "
                "WHERE database_name = current_database() ORDER BY 1"
            )
            == seqs
        )
        assert int(store.scalar("SELECT nextval('run_id_seq')")) == 2  # not restarted
        with pytest.raises(duckdb.ConstraintException):  # keys and constraints kept
            store.execute("INSERT INTO customers (customer_key) VALUES ('C0001')")
    finally:
        store.close()


@pytest.mark.slow
def test_forget_on_the_sample(tmp_path: Path) -> None:
    folder = tmp_path / "sample"
    with clustomer.Workspace(folder / "ws.duckdb") as ws:
        ws.import_file(clustomer.sample_path())
        store = ws.store
        biggest, lines = store.rows(
            "SELECT customer_key, count(*) FROM order_lines GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        )[0]
        store.execute("INSERT INTO contacts (customer_key, email) VALUES (?, ?)", [biggest, ANNA])
        store.execute("CHECKPOINT")
        assert grep(folder, ANNA)
        started = time.perf_counter()
        result = forget(store, ANNA, key_file=tmp_path / "k")
        seconds = time.perf_counter() - started
        assert result.deleted["order_lines"] == lines and result.deleted["customers"] == 1
        assert (
            store.scalar("SELECT count(*) FROM order_lines WHERE customer_key = ?", [biggest]) == 0
        )
    assert grep(folder, ANNA) == []
    assert seconds < 20  # about 0.5 s on a laptop; the rewrite is most of it
