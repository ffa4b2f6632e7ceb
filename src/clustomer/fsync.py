"""Durable file replacement helpers shared by the store and the exports."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["sync_folder"]


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); best effort, never an error.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     sync_folder(Path(d))
    """
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:  # pragma: no cover - Windows
        return
    try:
        fd = os.open(folder, os.O_RDONLY | flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
