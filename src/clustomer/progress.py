"""Stage reporting for long work: the core announces stages, a front end shows them.

The core never prints. It calls ``progress.stage("import")`` around each stage; the CLI
passes an object that draws Rich progress bars, tests and the Python API pass nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Progress(Protocol):
    """Anything with a ``stage(name)`` context manager."""

    def stage(self, name: str) -> AbstractContextManager[None]:  # pragma: no cover
        ...


class Timings:
    """Records how long each stage took; wraps another progress reporter.

    >>> t = Timings()
    >>> with t.stage("features"):
    ...     pass
    >>> list(t.seconds)
    ['features']
    """

    def __init__(self, inner: Progress | None = None) -> None:
        self.inner = inner
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        if self.inner is None:
            yield
        else:
            with self.inner.stage(name):
                yield
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 4)
