"""Pseudonyms, the key file, phone numbers, the forgotten filter and ``clustomer forget``'s
command line (registered on a fresh Typer app)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from clustomer.cli_privacy import register
from clustomer.errors import WorkspaceError
from clustomer.privacy import (
    ForgottenFilter,
    forget,
    forgotten_filter,
    hmac_hex,
    load_or_create_key,
    mask_who,
    normalize_phone,
    pseudonym,
)
from clustomer.privacy.keys import default_key_file
from clustomer.store.db import Store

EMAIL = "Anna.Secret@Example.org"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "clustomer" / "pseudonym.key"


@pytest.fixture
def store() -> Store:
    s = Store(":memory:")
    s.execute("INSERT INTO customers (customer_key) VALUES ('C1'), ('C2'), ('c1')")
    s.execute(
        "INSERT INTO contacts (customer_key, email, phone) VALUES "
        "('C1', 'anna.secret@example.org', '+442079460958'), ('C2', 'bo@example.org', NULL)"
    )
    return s


# -- HMAC and pseudonyms ----------------------------------------------------------------
def test_hmac_sha256_known_answer() -> None:
    # RFC 4231, section 4.3 (test case 2): key "Jefe", data "what do ya want for nothing?"
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert hmac_hex(b"Jefe", b"what do ya want for nothing?") == expected


def test_pseudonym_is_keyed_and_separated_by_kind() -> None:
    key = b"Jefe"
    value = "anna@example.org"
    assert pseudonym("email", value, key) == hmac_hex(key, b"email\x00" + value.encode())
    assert pseudonym("email", value, key) != pseudonym("phone", value, key)
    assert pseudonym("email", value, key) != pseudonym("email", value, b"Jeff")
    with pytest.raises(ValueError, match="unknown pseudonym kind"):
        pseudonym("address", value, key)


# -- the key file -----------------------------------------------------------------------
def test_key_file_is_created_private_and_reused(key_file: Path) -> None:
    key = load_or_create_key(key_file)
    assert len(key) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert key_file.read_text().strip() == key.hex()
    assert load_or_create_key(key_file) == key
    assert load_or_create_key(key_file.with_name("other.key")) != key


def test_key_file_others_may_read_is_refused(key_file: Path) -> None:
    load_or_create_key(key_file)
    os.chmod(key_file, 0o644)
    with pytest.raises(WorkspaceError, match="can be read by other users; run: chmod 600"):
        load_or_create_key(key_file)


def test_bad_or_missing_key_file_is_refused(key_file: Path) -> None:
    with pytest.raises(WorkspaceError, match="there is no pseudonym key file"):
        load_or_create_key(key_file, create=False)
    key_file.parent.mkdir(parents=True)
    key_file.write_text("not a key\n")
    os.chmod(key_file, 0o600)
    with pytest.raises(WorkspaceError, match="does not hold a key"):
        load_or_create_key(key_file)
    assert key_file.read_text() == "not a key\n"  # never replaced


def test_default_key_file_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLUSTOMER_KEY_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_key_file() == tmp_path / "clustomer" / "pseudonym.key"
    monkeypatch.setenv("CLUSTOMER_KEY_FILE", str(tmp_path / "k"))
    assert default_key_file() == tmp_path / "k"


# -- phone numbers ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "code", "expected"),
    [
        ("+44 20 7946 0958", None, "+442079460958"),
        ("+44 (0)20 7946 0958", None, "+442079460958"),  # the national 0, not dialled
        ("+44 020 7946 0958", None, "+4402079460958"),  # kept: a wrong 0 is not guessed
        ("0044 20-7946-0958", None, "+442079460958"),
        ("+1 (212) 555.0100", None, "+12125550100"),
        ("020 7946 0958", "44", "+442079460958"),
        ("020 7946 0958", "+44", "+442079460958"),
        ("020 7946 0958", None, None),
        ("030 1234567", "49", "+49301234567"),
        ("2125550100", None, None),  # no country
        ("+49 30 12", None, None),  # 6 digits
        ("+1234567890123456", None, None),  # 16 digits
        ("+44 20 7946 0958 x12", None, None),
        ("+٤٤٢٠٧٩٤٦٠٩٥٨", None, None),  # non-ASCII digits
        ("", None, None),
        (None, None, None),
    ],
)
def test_normalize_phone(raw: str | None, code: str | None, expected: str | None) -> None:
    assert normalize_phone(raw, code) == expected


# -- masking ----------------------------------------------------------------------------
def test_mask_who_never_shows_the_address() -> None:
    masked = mask_who(EMAIL)
    assert masked == "a***@example.org"
    assert "secret" not in masked.lower()
    assert mask_who("CUST-000123") == "…0123"


# -- the forgotten filter ----------------------------------------------------------------
def test_filter_is_empty_and_free_until_someone_is_forgotten(store: Store, key_file: Path) -> None:
    assert not forgotten_filter(store, key_file=key_file)
    assert not key_file.exists()  # an import without erasures never needs the key


def test_filter_recognises_the_forgotten(store: Store, key_file: Path) -> None:
    result = forget(store, EMAIL, key_file=key_file)
    assert result.customers == 1 and result.deleted["customers"] == 1
    erased = forgotten_filter(store, key_file=key_file)
    assert erased
    assert erased.is_forgotten("C1")
    assert not erased.is_forgotten("c1") and not erased.is_forgotten("C2")
    assert erased.is_forgotten("C77", email="  ANNA.secret@example.org ")
    assert erased.is_forgotten("C78", phone="+442079460958")
    assert erased.is_forgotten("Anna.Secret@example.org")  # a key that is the address
    rows = [("C1", None, None), ("C2", "bo@example.org", None), ("N", EMAIL, None)]
    assert erased.erased_keys(rows) == {"C1", "N"}
    # the list holds pseudonyms only
    stored = store.rows("SELECT kind, value FROM forgotten")
    assert {k for k, _ in stored} == {"customer_key_hash", "email_hash", "phone_hash", "key_check"}
    assert all(len(v) == 64 and int(v, 16) >= 0 for _, v in stored)
    assert "anna" not in str(stored).lower() and "C1" not in str(stored)


def test_an_unknown_key_is_recorded_for_later_imports(store: Store, key_file: Path) -> None:
    result = forget(store, " 12346.0 ", key_file=key_file)
    assert result.customers == 0 and result.rows == 0 and result.recorded == 1
    assert forgotten_filter(store, key_file=key_file).is_forgotten("12346")


def test_another_key_file_is_refused(store: Store, key_file: Path) -> None:
    forget(store, "C2", key_file=key_file)
    other = key_file.with_name("other.key")
    before = store.rows("SELECT * FROM customers ORDER BY ALL")
    with pytest.raises(WorkspaceError, match="made with another pseudonym key"):
        forget(store, "C1", key_file=other)
    with pytest.raises(WorkspaceError, match="made with another pseudonym key"):
        forgotten_filter(store, key_file=other)
    with pytest.raises(WorkspaceError, match="restore the key file before importing"):
        forgotten_filter(store, key_file=key_file.with_name("missing.key"))
    assert store.rows("SELECT * FROM customers ORDER BY ALL") == before


def test_filter_without_rows_to_match() -> None:
    assert not ForgottenFilter()
    assert ForgottenFilter().erased_keys([("C1", "a@x.org", "+442079460958")]) == set()


# -- the command ------------------------------------------------------------------------
@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # pragma: no cover - makes Typer keep "forget" as a subcommand
        pass

    return app


@pytest.fixture
def disk_store(tmp_path: Path) -> Path:
    path = tmp_path / "ws" / "shop.duckdb"
    s = Store(path)
    s.execute("INSERT INTO customers (customer_key) VALUES ('C1'), ('C2')")
    s.execute("INSERT INTO contacts (customer_key, email) VALUES ('C1', 'anna.secret@example.org')")
    s.close()
    return path


def test_cli_forget_json_never_echoes_the_address(
    cli: typer.Typer, disk_store: Path, key_file: Path
) -> None:
    args = ["forget", EMAIL, "-w", str(disk_store), "--key-file", str(key_file)]
    result = CliRunner().invoke(cli, [*args, "--yes", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["who"] == "a***@example.org" and data["customers"] == 1
    assert data["deleted"]["customers"] == 1 and data["deleted"]["contacts"] == 1
    assert "secret" not in result.output.lower()
    printed = CliRunner().invoke(cli, [*args, "--yes"])  # again, as a table
    assert printed.exit_code == 0, printed.output
    assert "not in this workspace" in printed.stdout and "secret" not in printed.output.lower()


def test_cli_forget_asks_first(cli: typer.Typer, disk_store: Path, key_file: Path) -> None:
    args = ["forget", "C1", "-w", str(disk_store), "--key-file", str(key_file)]
    result = CliRunner().invoke(cli, args, input="n\n")
    assert result.exit_code == 1
    s = Store(disk_store, create=False)
    try:
        assert s.scalar("SELECT count(*) FROM customers WHERE customer_key = 'C1'") == 1
    finally:
        s.close()
    result = CliRunner().invoke(cli, args, input="y\n")
    assert result.exit_code == 0, result.output
    assert "Erased C1: 1 customer key(s)" in result.stdout


def test_cli_forget_missing_workspace(cli: typer.Typer, tmp_path: Path, key_file: Path) -> None:
    args = ["forget", "C1", "-w", str(tmp_path / "nope.duckdb"), "--yes"]
    result = CliRunner().invoke(cli, [*args, "--key-file", str(key_file)])
    assert result.exit_code == WorkspaceError.exit_code
    assert "there is no workspace" in result.output
    assert not (tmp_path / "nope.duckdb").exists()
