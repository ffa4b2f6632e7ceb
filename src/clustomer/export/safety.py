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
- **Atomic files**: :func:`write_csv_atomic` writes a temporary file beside the target
  and renames it over the target only when every row is written, so an error leaves no
  partial file (and an older file intact).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from clustomer.errors import ClustomerError, InputError

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
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder: give the name of the file to write", file=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else None
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ClustomerError(f"cannot write {path}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # name the file asked for, not the temporary one
            raise ClustomerError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
