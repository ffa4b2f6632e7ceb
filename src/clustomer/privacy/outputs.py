"""Erase people from the output folder (``--out``): ``segments.csv`` and ``report.html``.

``segments.csv`` has one row per customer, keyed by ``customer_key``: those rows are
removed and the file is rewritten atomically (:func:`clustomer.export.safety.atomic_file`,
keeping its mode). ``report.html`` holds no customer keys by design
(:func:`clustomer.report.summarize_run` never passes one on): it is only searched, for
the person's addresses and keys, and named if it mentions them after all.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from clustomer.errors import ClustomerError
from clustomer.export.safety import atomic_file

__all__ = ["erase_from_outputs", "remove_csv_rows"]

SEGMENTS_CSV = "segments.csv"
REPORT_HTML = "report.html"


def remove_csv_rows(path: Path, keys: Iterable[str], column: str = "customer_key") -> int:
    """Rewrite the CSV file at ``path`` without the rows whose ``column`` is one of
    ``keys``; return how many rows went. An untouched file is not rewritten.

    Raises
    ------
    ClustomerError
        The file has no such column, or cannot be read or written.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "s.csv").write_text('"customer_key","segment"\\n"C1","A"\\n"C2","B"\\n')
    >>> remove_csv_rows(folder / "s.csv", ["C1"]), remove_csv_rows(folder / "s.csv", ["C1"])
    (1, 0)
    >>> (folder / "s.csv").read_text()
    'customer_key,segment\\nC2,B\\n'
    >>> import shutil; shutil.rmtree(folder)
    """
    wanted = set(keys)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise ClustomerError(f"cannot read {path}: {exc}") from None
    if not rows:
        return 0
    header = rows[0]
    if column not in header:
        raise ClustomerError(f"{path} has no {column} column; remove the person's rows by hand")
    at = header.index(column)
    kept = [header] + [r for r in rows[1:] if not (len(r) > at and r[at] in wanted)]
    removed = len(rows) - len(kept)
    if removed:
        with atomic_file(path, newline="", what=path.name) as out:
            csv.writer(out, lineterminator="\n").writerows(kept)
    return removed


def erase_from_outputs(
    out_dir: Path, keys: Iterable[str], texts: Iterable[str] = ()
) -> tuple[dict[str, int | str], list[str]]:
    """Remove these customers from the outputs in ``out_dir``.

    Returns ``({file: rows removed, or what was found}, [files that still mention them])``.
    ``texts`` are the person's addresses and numbers, looked for in ``report.html``
    (which holds no customer keys by design).
    """
    key_list = sorted(set(keys))
    done: dict[str, int | str] = {}
    still: list[str] = []
    segments = out_dir / SEGMENTS_CSV
    if segments.is_file():
        done[SEGMENTS_CSV] = remove_csv_rows(segments, key_list)
    report = out_dir / REPORT_HTML
    if report.is_file():
        body = report.read_bytes().lower()
        # keys that are addresses are looked for too; other keys are not (a short key
        # such as 12346 would match a product code or a number by chance)
        wanted = [t for t in texts if t.strip()] + [k for k in key_list if "@" in k]
        needles = [t.strip().lower().encode() for t in wanted]
        if any(n in body for n in needles):
            done[REPORT_HTML] = "mentions them: delete it, or run segment again"
            still.append(str(report))
        else:
            done[REPORT_HTML] = "holds no customer keys or contacts"
    return done, still
