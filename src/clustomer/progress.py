"""Stage reporting for long work: the core announces stages, a front end shows them.

The core never prints. It calls ``progress.stage("import")`` around each stage; the CLI
passes an object that draws Rich progress bars, tests and the Python API pass nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol


class Progress(Protocol):
    """Anything with a ``stage(name)`` context manager.

    A reporter may also have ``update(name, fraction)``: how far the running stage has
    got, 0 to 1 (see :func:`polled`); one without it shows the stage only.
    """

    def stage(self, name: str) -> AbstractContextManager[None]:  # pragma: no cover
        ...


@contextmanager
def polled(
    progress: Any, name: str, poll: Callable[[], float | None], every: float = 0.25
) -> Iterator[None]:
    """Stage ``name`` of ``progress``, with ``progress.update(name, poll() / 100)`` called
    from a thread every ``every`` seconds while the block runs.

    ``poll`` returns a percentage (or None when it cannot tell), e.g. DuckDB's progress
    of the statement the block runs (:meth:`clustomer.store.db.Store.query_progress`),
    which one long statement, such as reading a whole CSV file, reports as it goes.

    >>> class Shown:
    ...     def __init__(self): self.seen = []
    ...     def stage(self, name): return Timings().stage(name)
    ...     def update(self, name, fraction): self.seen.append((name, fraction))
    >>> shown = Shown()
    >>> with polled(shown, "read", lambda: 50.0, every=0.01):
    ...     time.sleep(0.05)
    >>> shown.seen[0], shown.seen[-1]
    (('read', 0.5), ('read', 1.0))
    """
    if progress is None:
        yield
        return
    update = getattr(progress, "update", None)
    with progress.stage(name):
        if update is None:
            yield
            return
        done = threading.Event()

        def watch() -> None:
            while not done.wait(every):
                value = poll()
                if value is not None and value >= 0:
                    update(name, min(float(value), 100.0) / 100)

        watcher = threading.Thread(target=watch, name=f"clustomer-progress-{name}", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()
        update(name, 1.0)


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

    def update(self, name: str, fraction: float) -> None:
        """Pass how far stage ``name`` has got (0 to 1) to the wrapped reporter."""
        update = getattr(self.inner, "update", None)
        if update is not None:
            update(name, fraction)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        if self.inner is None:
            yield
        else:
            with self.inner.stage(name):
                yield
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 4)
