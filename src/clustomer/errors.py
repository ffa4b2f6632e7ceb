"""Errors a shop owner can act on.

Every error clustomer raises on purpose is a :class:`ClustomerError`. The CLI turns it
into a short message and a non-zero exit code; nothing else should reach the user as a
traceback.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}")


def mask_emails(text: str) -> str:
    """Hide e-mail addresses in a message meant for logs or the terminal.

    >>> mask_emails("duplicate key anna@example.com in orders.csv")
    'duplicate key <e-mail> in orders.csv'
    """
    return _EMAIL.sub("<e-mail>", text)


class ClustomerError(Exception):
    """Base class of clustomer's own errors.

    Parameters
    ----------
    message : str
        What went wrong and what to do about it, in plain words.

    Examples
    --------
    >>> str(ClustomerError("no customers to segment"))
    'no customers to segment'
    """

    exit_code = 1


class InputError(ClustomerError):
    """A problem with an input file, located by file, line and column where known.

    Examples
    --------
    >>> str(InputError("unterminated quote", file="orders.csv", line=4, column="name"))
    'orders.csv, line 4, column name: unterminated quote'
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.reason = message
        where = [p for p in (file, f"line {line}" if line else None) if p]
        if column:
            where.append(f"column {column}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class LayoutError(InputError):
    """The file's columns match no known layout (or not the one asked for)."""


class WorkspaceError(ClustomerError):
    """The workspace file cannot be opened or used (locked, newer schema, ...)."""

    exit_code = 3
