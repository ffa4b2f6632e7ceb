"""Background jobs of the pages: an uploaded file imported, then segmented, in a thread.

A job's status is plain data (``GET /jobs/{id}``): ``queued``, ``running`` with the stage
it is in, ``done`` with the run id, or ``failed`` with the message (e-mails masked); and
``detail``, what the job has to show so far (the upload's row accounting, as soon as the
import is done).

>>> reg = JobRegistry()
>>> job = reg.start(lambda report: {"run_id": 1})
>>> reg.wait(job.id, timeout=5).status
'done'
>>> reg.shutdown()
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clustomer.errors import ClustomerError, mask_emails

__all__ = ["Job", "JobRegistry"]

#: A job's work: called with ``report(stage, detail=None)``; returns the result.
Work = Callable[..., dict[str, Any]]


@dataclass
class Job:
    id: str
    status: str = "queued"
    stage: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    detail: dict[str, Any] | None = None
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    done: threading.Event = field(default_factory=threading.Event)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "stage": self.stage,
            "result": self.result,
            "error": self.error,
            "detail": self.detail,
            "started_at": self.started_at,
        }


class JobRegistry:
    """The jobs of one app; each runs in its own daemon thread."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._threads: list[threading.Thread] = []

    def start(self, work: Work) -> Job:
        """Run ``work(report)`` in a thread; return its job at once.

        ``report(stage, detail=None)`` names the stage the work is in, and replaces the
        job's ``detail`` when one is given.
        """
        job = Job(secrets.token_hex(8))
        self._jobs[job.id] = job

        def report(stage: str, detail: dict[str, Any] | None = None) -> None:
            if detail is not None:
                job.detail = detail
            job.stage = stage

        def run() -> None:
            job.status = "running"
            try:
                job.result = work(report)
                job.status = "done"
            except ClustomerError as exc:
                job.error, job.status = mask_emails(str(exc)), "failed"
            except Exception as exc:  # a bug: said plainly, never a crashed thread
                job.error = mask_emails(f"unexpected error: {type(exc).__name__}: {exc}")
                job.status = "failed"
            finally:
                job.done.set()

        thread = threading.Thread(target=run, name=f"clustomer-job-{job.id}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        job = self._jobs[job_id]
        job.done.wait(timeout)
        return job

    def shutdown(self, timeout: float = 30.0) -> None:
        """Wait (a while) for running jobs, so the workspace is not closed under them."""
        for thread in self._threads:
            thread.join(timeout)
