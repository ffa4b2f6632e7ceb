"""The local web server: a REST API under ``/api/v1`` and a few server-rendered pages.

Nothing is built at import time: :func:`create_app` builds a FastAPI application from a
:class:`~clustomer.web.settings.Settings`, and the workspace is opened when the server
starts (its lifespan), not before. See ``docs/web.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clustomer.web.app import create_app
    from clustomer.web.settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from clustomer.web.app import create_app

        return create_app
    if name == "Settings":
        from clustomer.web.settings import Settings

        return Settings
    raise AttributeError(name)
