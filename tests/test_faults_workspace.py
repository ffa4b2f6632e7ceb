"""A damaged workspace file: refused with a message naming it, and never written.

Each case damages a copy of a real workspace (one import), then opens it through the
Python API and through the CLI (``quality`` reads, ``import`` would write). Every attempt
must fail with a :class:`WorkspaceError` (exit code 3, one line, the file's name in it),
leave the file's bytes as they were, and create nothing beside it (no ``.wal``, no
temporary file).
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clustomer import Workspace
from clustomer.cli import app
from clustomer.errors import WorkspaceError
from clustomer.store.db import HEADER_BYTES, Store, check_workspace_file

runner = CliRunner()


def _junk(path: Path, start: int, length: int) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(7)
    data[start : start + length] = bytes(rng.randrange(256) for _ in range(length))
    path.write_bytes(bytes(data))


def _half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _headers_only(path: Path) -> None:  # cut at a block boundary: no block left at all
    os.truncate(path, HEADER_BYTES)


def _empty(path: Path) -> None:
    os.truncate(path, 0)


def _csv(path: Path) -> None:
    path.write_text("customer_id,order_id,order_date,revenue\nC1,O1,2024-01-02,10.50\n")


#: name: (damage, what the message says)
DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "cut to half": (_half, "is damaged (it is cut short: "),
    "cut to its headers": (_headers_only, "is damaged (it is cut short: a block it needs"),
    "junk main header": (
        lambda p: _junk(p, 0, 4096),
        "is not a clustomer workspace: it is not a DuckDB file, or its header is damaged",
    ),
    "junk database header": (lambda p: _junk(p, 4096, 256), "is damaged (a block's checksum"),
    "empty file": (_empty, "is damaged (it is an empty file (0 bytes))"),
    "a CSV export": (_csv, "is not a clustomer workspace (a DuckDB file); did you mean to import"),
}


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file in the folder and the SHA-256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def damaged(tmp_path: Path, disk_ws: Path, request: pytest.FixtureRequest) -> tuple[Path, str]:
    folder = tmp_path / "damaged"
    folder.mkdir()
    path = folder / "shop.duckdb"
    path.write_bytes(disk_ws.read_bytes())
    damage, says = DAMAGE[request.param]
    damage(path)
    return path, says


@pytest.mark.parametrize("damaged", list(DAMAGE), indirect=True)
def test_damaged_workspace_is_refused_and_untouched(
    damaged: tuple[Path, str], data_dir: Path
) -> None:
    path, says = damaged
    before = fingerprint(path.parent)
    with pytest.raises(WorkspaceError) as info:
        Workspace(path)
    assert str(path) in str(info.value) and says in str(info.value)
    assert fingerprint(path.parent) == before
    for args in (["quality"], ["import", str(data_dir / "generic_orders.csv")]):
        result = runner.invoke(app, [*args, "-w", str(path)])
        assert result.exit_code == WorkspaceError.exit_code == 3, result.output
        message = result.stderr.strip()
        assert message.startswith("error:") and "\n" not in message, message
        assert path.name in message and "Traceback" not in result.output
        assert fingerprint(path.parent) == before, args


def test_damaged_block_is_named_when_a_query_meets_it(tmp_path: Path, disk_ws: Path) -> None:
    # the headers and the catalogue are fine, so the file opens; a block that only
    # order_lines uses has other bytes, which DuckDB's checksum finds when it is read
    lines = tmp_path / "lines.csv"
    rows = (
        f"C{i % 997},O{i // 3},2024-0{1 + i % 9}-1{i % 10} 10:00:00,P{i % 89},{1 + i % 4},"
        f"{1 + i % 50}.25,EUR"
        for i in range(60_000)
    )
    lines.write_text(
        "customer_id,order_id,order_date,product_id,quantity,unit_price,currency\n"
        + "\n".join(rows)
        + "\n"
    )
    with Workspace(disk_ws) as ws:
        ws.import_file(lines)
    with Workspace(disk_ws) as ws:
        block_size = int(
            ws.store.scalar(
                "SELECT block_size FROM pragma_database_size() "
                "WHERE database_name = current_database()"
            )
        )
        used = {
            table: {
                b for (b,) in ws.store.rows(f"SELECT block_id FROM pragma_storage_info('{table}')")
            }
            for (table,) in ws.store.rows(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            )
        }
    others = set().union(*(b for t, b in used.items() if t != "order_lines"))
    blocks = sorted(b for b in used["order_lines"] - others if b > 0)
    assert blocks, "no block holds order_lines alone"
    data = bytearray(disk_ws.read_bytes())
    for block in blocks:
        at = HEADER_BYTES + block * block_size + 64
        data[at : at + 64] = bytes(b ^ 0xFF for b in data[at : at + 64])
    disk_ws.write_bytes(bytes(data))
    before = fingerprint(disk_ws.parent)
    with Workspace(disk_ws) as ws:
        with pytest.raises(WorkspaceError, match=f"workspace {disk_ws} is damaged") as info:
            ws.order_lines()
        assert "checksum does not match" in str(info.value)
        try:  # code that queries the connection itself asks the store to name the damage
            ws.store.con.execute("SELECT sum(revenue) FROM order_lines").fetchall()
        except Exception as exc:  # noqa: BLE001 - DuckDB's own error type
            assert isinstance(ws.store.damage_error(exc), WorkspaceError)
        else:
            pytest.fail("the damaged block was read without an error")
    assert fingerprint(disk_ws.parent) == before


def test_a_file_trimmed_by_duckdb_itself_still_opens(tmp_path: Path) -> None:
    # DuckDB cuts free blocks off the end after writing a header that still counts them:
    # a file shorter than its header by whole blocks is not damage
    path = tmp_path / "trimmed.duckdb"
    with Workspace(path, threads=1) as ws:  # one thread: the same block layout each time
        ws.store.execute("CREATE TABLE small AS SELECT range AS i FROM range(1000)")
        ws.store.execute("CHECKPOINT")
        ws.store.execute(
            "CREATE TABLE filler AS SELECT range AS i, random() AS r FROM range(1000000)"
        )
        ws.store.execute("CHECKPOINT")
        ws.store.execute("DELETE FROM filler WHERE i > 10")
        ws.store.execute("CHECKPOINT")
    head = path.read_bytes()[:HEADER_BYTES]
    newer = max((struct.unpack_from("<6Q", head, o) for o in (4096, 8192)), key=lambda h: h[1])
    if path.stat().st_size >= HEADER_BYTES + newer[4] * newer[5]:
        pytest.skip("this DuckDB did not trim the file here")
    check_workspace_file(path, create=False)
    with Workspace(path, create=False) as ws:
        assert ws.store.scalar("SELECT count(*) FROM filler") == 11


def test_a_new_workspace_is_still_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "shop.duckdb"
    with Workspace(path) as ws:
        assert ws.imports() == []
    assert sorted(p.name for p in path.parent.iterdir()) == ["shop.duckdb"]
    Store(path, create=False).close()
