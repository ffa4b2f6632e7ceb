"""Cells and files that are safe to hand to a spreadsheet or a marketing tool.

Three jobs, each small:

- **CSV injection** (OWASP, "CSV Injection"; OWASP ASVS 1.2.10): a free-text cell that
  starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return, a line feed or a NUL
  (or the full-width ``＝ ＋ － ＠`` that some spreadsheets also read as formula signs)
  would be run as a formula by Excel, LibreOffice or Google Sheets. :func:`escape_cell`
  prefixes such a cell with a single quote, which spreadsheets show as text;
  :func:`unescape_cell` undoes it exactly.
- **E-mail addresses** are *validated*, not escaped: an importer must receive the address
  itself. :func:`is_valid_email` accepts only addresses that start with a letter, digit or
  underscore, so a valid address can never start a formula; invalid ones are left out of
  e-mail exports (reason ``"invalid email"``). :func:`normalize_email` and
  :func:`email_sha256` give the form the ad platforms hash (trimmed, lower-case,
  unsalted SHA-256 in hex) — the same form the suppression list stores.
- **Atomic files**: :func:`atomic_file` (the one definition) writes a temporary file
  beside the target and renames it over the target only when everything is written, so
  an error — a full disk, a read-only folder — leaves no partial file and an older file
  intact; :func:`write_csv_atomic` writes a CSV through it.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from clustomer.errors import ClustomerError, InputError
from clustomer.fsync import sync_folder

#: First characters that make a spreadsheet read a cell as a formula (OWASP, ASVS 1.2.10),
#: with the full-width signs that some spreadsheets read the same way.
FORMULA_STARTS = frozenset("=+-@\t\r\n\0\uff1d\uff0b\uff0d\uff20")

#: The prefix that makes a spreadsheet show a cell as text.
ESCAPE = "'"

_LOCAL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.%+'-]*\Z")
# a label: letters or digits (any script), hyphens inside; the last one has no digits,
# or is an IDNA ("xn--") label
_LABEL = re.compile(r"[^\W_](?:[\w-]*[^\W_])?\Z")
_TLD = re.compile(r"(?:[^\W\d_]{2,}|xn--[a-z0-9-]+)\Z", re.IGNORECASE)


def _strips_quote(text: str) -> bool:
    return len(text) > 1 and text[0] == ESCAPE and (text[1] in FORMULA_STARTS or text[1] == ESCAPE)


def escape_cell(text: str) -> str:
    """Make a free-text cell safe to open in a spreadsheet.

    A cell that starts with ``= + - @``, a tab or a carriage return gets a leading single
    quote. So does a cell that already starts with a quote followed by one of those (or
    by another quote), so that :func:`unescape_cell` always gives the original back.

    Examples
    --------
    >>> escape_cell('=HYPERLINK("http://x.example","click")')
    '\\'=HYPERLINK("http://x.example","click")'
    >>> escape_cell("+1 555 0100"), escape_cell("Anna")
    ("'+1 555 0100", 'Anna')
    >>> unescape_cell(escape_cell("'=1+1")) == "'=1+1"
    True
    """
    if text and (text[0] in FORMULA_STARTS or _strips_quote(text)):
        return ESCAPE + text
    return text


def unescape_cell(text: str) -> str:
    """Undo :func:`escape_cell` (for reading an exported file back).

    >>> unescape_cell("'=1+1"), unescape_cell("'quoted'")
    ('=1+1', "'quoted'")
    """
    return text[1:] if _strips_quote(text) else text


def normalize_email(email: str) -> str:
    """The form that is hashed: surrounding whitespace removed, lower-case.

    >>> normalize_email("  Foo@Example.COM ")
    'foo@example.com'
    """
    return email.strip().lower()


def email_sha256(email: str) -> str:
    """Unsalted SHA-256 (hex) of the normalised address, as Customer Match and Meta expect.

    >>> email_sha256(" Foo@Example.COM ") == email_sha256("foo@example.com")
    True
    >>> len(email_sha256("foo@example.com"))
    64
    """
    return hashlib.sha256(normalize_email(email).encode("utf-8")).hexdigest()


def is_valid_email(email: str) -> bool:
    """Whether an (already trimmed) address is plausible and safe to put in a file.

    Deliberately stricter than RFC 5322: the part before ``@`` is ASCII letters, digits and
    ``. _ % + ' -``, starting with a letter, digit or underscore (Mailchimp refuses most
    special characters there); the domain has at least two labels and a top-level domain
    of letters (or an ``xn--`` label). At most 254 characters.

    Examples
    --------
    >>> [is_valid_email(e) for e in ("anna@example.com", "o'neil+tag@shop.co.uk")]
    [True, True]
    >>> [is_valid_email(e) for e in ("=cmd@x.com", "anna@example", "a..b@x.com", "a b@x.com")]
    [False, False, False, False]
    """
    if len(email) > 254 or email.count("@") != 1:
        return False
    local, domain = email.split("@")
    if len(local) > 64 or not _LOCAL.match(local) or ".." in local or local.endswith("."):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not _TLD.match(labels[-1]):
        return False
    return all(len(label) <= 63 and _LABEL.match(label) for label in labels)


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Write a UTF-8 CSV file all at once: a temporary file in the same folder, then a rename.

    On any error (including one raised while ``rows`` is iterated) the temporary file is
    removed and ``path`` is left as it was — absent, or the previous file. A new file is
    readable by its owner only (it holds personal data); a replaced file keeps its mode.
    See :func:`atomic_file`.

    Raises
    ------
    InputError
        ``path`` is a folder.
    ClustomerError
        The file cannot be written (the message names ``path``, not the temporary file).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_csv_atomic(folder / "a.csv", ["Email"], [["anna@example.com"]])
    >>> (folder / "a.csv").read_bytes()
    b'Email\\r\\nanna@example.com\\r\\n'
    >>> sorted(p.name for p in folder.iterdir())
    ['a.csv']
    >>> import shutil; shutil.rmtree(folder)
    """
    with atomic_file(path, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


@contextmanager
def atomic_file(
    path: str | Path,
    *,
    binary: bool = False,
    encoding: str = "utf-8",
    newline: str | None = None,
    new_mode: int = 0o600,
    what: str = "",
) -> Iterator[IO[Any]]:
    """Write a file all or nothing: the one way clustomer writes an output file.

    Yields a file open on a temporary file beside ``path`` (``.NAME.XXXX.tmp``). When the
    block ends without an error, the file is flushed to disk and renamed over ``path``
    (one atomic step; the folder is synced where the system allows). On any error —
    a full disk, a read-only folder, an exception or Ctrl-C in the block — the temporary
    file is removed and ``path`` is left as it was: absent, or the previous file, intact.

    A new file gets ``new_mode`` (default ``0o600``: outputs hold customer data); a
    replaced file keeps its mode. A symbolic link is written through (its target is
    replaced). A process killed in the block can leave the temporary file behind, never
    a partial ``path``.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder is created if needed.
    binary : bool
        Yield a binary file (for writers such as ``pyarrow.csv.write_csv``).
    encoding, newline : str
        For a text file, as for :func:`open`.
    new_mode : int
        Permission bits of a new file.
    what : str
        What the file is, for messages ("the report" → "cannot write the report to …").

    Raises
    ------
    InputError
        ``path`` is a folder.
    ClustomerError
        ``path`` is read-only, or cannot be written (the message names ``path``, not the
        temporary file, with the system's reason, e.g. "No space left on device").

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_file(folder / "report.html", new_mode=0o644) as fh:
    ...     _ = fh.write("<html></html>")
    >>> (folder / "report.html").read_text()
    '<html></html>'
    >>> try:
    ...     with atomic_file(folder / "report.html") as fh:
    ...         _ = fh.write("<html>half")
    ...         raise OSError(28, "No space left on device")
    ... except ClustomerError as exc:
    ...     print(str(exc).replace(str(folder), "…"))
    cannot write …/report.html: No space left on device
    >>> (folder / "report.html").read_text(), sorted(p.name for p in folder.iterdir())
    ('<html></html>', ['report.html'])
    >>> import shutil; shutil.rmtree(folder)
    """
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    cannot = f"cannot write {what} to {target}" if what else f"cannot write {target}"
    if target.is_dir():
        folder = "is a folder: give the name of the file to write"
        raise InputError(f"cannot write {what}: it {folder}" if what else folder, file=str(target))
    if target.exists() and not os.access(target, os.W_OK):
        raise ClustomerError(f"{cannot}: it is read-only")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = target.stat().st_mode & 0o777 if target.exists() else new_mode
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ClustomerError(f"{cannot}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        fh = (
            os.fdopen(fd, "wb")
            if binary
            else os.fdopen(fd, "w", encoding=encoding, newline=newline)
        )
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # name the file asked for, not the temporary one
            raise ClustomerError(f"{cannot}: {exc.strerror or exc}") from None
        raise
    sync_folder(target.parent)
