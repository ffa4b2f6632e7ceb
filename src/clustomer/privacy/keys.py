"""The per-install pseudonym key, pseudonyms, and the normal forms that are hashed.

* The **key** is 32 random bytes, kept (as 64 hexadecimal digits) in a file outside every
  workspace — ``$XDG_CONFIG_HOME/clustomer/pseudonym.key``, by default
  ``~/.config/clustomer/pseudonym.key`` — made on first use with mode 0600 in a folder
  with mode 0700, like the web server's token. A key file other users may read is
  refused. Without the key, a pseudonym cannot be recomputed from a guessed address,
  which an unsalted hash (SHA-256 of an address) can.
* A **pseudonym** is HMAC-SHA256 (RFC 2104) under that key of ``kind``, a NUL byte, and
  the normalised value, in hex: the same address gives the same pseudonym in every
  workspace of this install, and an e-mail never collides with a phone number or a
  customer key that happens to be spelled the same.
* E-mail addresses are normalised by :func:`clustomer.export.safety.normalize_email`
  (trimmed, lower-case); phone numbers by :func:`normalize_phone` (E.164).

>>> key = bytes(32)
>>> pseudonym("email", "anna@example.com", key) == pseudonym("phone", "anna@example.com", key)
False
>>> len(pseudonym("email", "anna@example.com", key))
64
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path

from clustomer.errors import WorkspaceError

__all__ = [
    "KEY_BYTES",
    "PSEUDONYM_KINDS",
    "default_key_file",
    "hmac_hex",
    "load_or_create_key",
    "normalize_phone",
    "pseudonym",
]

#: Length of a new key, in bytes (the block of SHA-256 is 64; 32 is its output size).
KEY_BYTES = 32

#: What a pseudonym can stand for; the kind is part of what is hashed.
PSEUDONYM_KINDS = ("email", "phone", "customer_key")

_HEX_KEY = re.compile(r"[0-9a-f]{64}\Z")
_PHONE_PUNCTUATION = re.compile(r"[\s.\-()/\u00a0]")


def default_key_file() -> Path:
    """``$XDG_CONFIG_HOME/clustomer/pseudonym.key``, by default under ``~/.config``.

    ``CLUSTOMER_KEY_FILE`` names another file (e.g. on a server, or in tests).
    """
    chosen = os.environ.get("CLUSTOMER_KEY_FILE")
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "clustomer" / "pseudonym.key"


def load_or_create_key(path: str | Path | None = None, *, create: bool = True) -> bytes:
    """The pseudonym key kept in ``path``; a new one (0600, folder 0700) if there is none.

    Parameters
    ----------
    path : str or Path, optional
        The key file (default: :func:`default_key_file`).
    create : bool
        Make a new key when the file does not exist (otherwise that is an error).

    Raises
    ------
    WorkspaceError
        The file may be read by other users, is not a key (64 hexadecimal digits), or is
        missing and ``create`` is false.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> key = load_or_create_key(folder / "k" / "pseudonym.key")
    >>> len(key), load_or_create_key(folder / "k" / "pseudonym.key") == key
    (32, True)
    >>> oct((folder / "k" / "pseudonym.key").stat().st_mode & 0o777)
    '0o600'
    >>> import shutil; shutil.rmtree(folder)
    """
    file = Path(path).expanduser() if path is not None else default_key_file()
    if file.exists():
        if os.name == "posix" and file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise WorkspaceError(
                f"the pseudonym key file {file} can be read by other users; run: chmod 600 {file}"
            )
        text = file.read_text(encoding="ascii", errors="replace").strip().lower()
        if not _HEX_KEY.match(text):
            raise WorkspaceError(
                f"the pseudonym key file {file} does not hold a key (64 hexadecimal digits); "
                "restore it from a backup. A new key would not recognise the people already "
                "erased, so clustomer will not replace it"
            )
        return bytes.fromhex(text)
    if not create:
        raise WorkspaceError(f"there is no pseudonym key file at {file}")
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it just now: use theirs
        return load_or_create_key(file, create=False)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key.hex() + "\n")
    return key


def hmac_hex(key: bytes, message: bytes) -> str:
    """HMAC-SHA256 of ``message`` under ``key``, in lower-case hex.

    >>> hmac_hex(b"key", b"The quick brown fox jumps over the lazy dog")[:16]
    'f7bc83f430538424'
    """
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def pseudonym(kind: str, value: str, key: bytes) -> str:
    """The pseudonym of an (already normalised) ``value``: HMAC-SHA256 of ``kind\\0value``.

    Parameters
    ----------
    kind : str
        ``"email"``, ``"phone"`` or ``"customer_key"`` (domain separation: the same text
        gives different pseudonyms as an e-mail and as a key).
    value : str
        The normalised value: :func:`~clustomer.export.safety.normalize_email` for an
        address, :func:`normalize_phone` for a number, the key as stored for a key.
    key : bytes
        The install's key (:func:`load_or_create_key`).

    Examples
    --------
    >>> key = bytes(range(32))
    >>> pseudonym("email", "anna@example.com", key) == hmac_hex(key, b"email\\0anna@example.com")
    True
    >>> pseudonym("email", "anna@example.com", key) == pseudonym("email", "anna@example.com",
    ...     bytes(32))
    False
    """
    if kind not in PSEUDONYM_KINDS:
        raise ValueError(f"unknown pseudonym kind {kind!r}; use one of {PSEUDONYM_KINDS}")
    return hmac_hex(key, kind.encode("ascii") + b"\0" + value.encode("utf-8"))


def normalize_phone(raw: str | None, default_calling_code: str | None = None) -> str | None:
    """A phone number in E.164 form (``+`` and 8 to 15 digits), or None if it is not one.

    Spaces, dots, dashes, slashes and parentheses are dropped; ``00`` before the
    country code becomes ``+``, and a ``(0)`` after it (``+44 (0)20 …``) goes. A
    national number (a leading ``0``) needs the country's calling code
    (``default_calling_code``, e.g. ``"44"`` or ``"+49"``), which replaces that ``0``.
    Anything else — letters, an extension, too few or too many digits, a number without
    a country — gives None: a wrong number must never match another person.

    Examples
    --------
    >>> normalize_phone("+44 20 7946 0958")
    '+442079460958'
    >>> normalize_phone("0044 (20) 7946-0958"), normalize_phone("+44 (0)20 7946 0958")
    ('+442079460958', '+442079460958')
    >>> normalize_phone("020 7946 0958", "44"), normalize_phone("030/1234567", "+49")
    ('+442079460958', '+49301234567')
    >>> print(normalize_phone("020 7946 0958"))  # national, and no calling code given
    None
    >>> [normalize_phone(x) for x in ("", "n/a", "+44 20 7946 0958 ext 12", "+1234")]
    [None, None, None, None]
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if text.startswith(("+", "00")):  # "+44 (0)20 …": the national 0 is not dialled
        text = text.replace("(0)", "", 1)
    text = _PHONE_PUNCTUATION.sub("", text)
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.startswith("0"):
        code = (default_calling_code or "").strip().lstrip("+")
        if not code.isdigit() or not 1 <= len(code) <= 3:
            return None
        text = "+" + code + text[1:]
    elif not text.startswith("+"):
        return None
    digits = text[1:]
    if not digits.isascii() or not digits.isdigit() or digits.startswith("0"):
        return None
    if not 8 <= len(digits) <= 15:
        return None
    return "+" + digits
