"""What the web server needs to know: the workspace, where to listen, its limits, its token.

>>> s = Settings(workspace="shop.duckdb", token_file="/tmp/t")
>>> s.base_url, s.max_body_bytes
('http://127.0.0.1:8000', 268435456)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_ALLOWED_HOSTS", "Settings", "default_token_file"]

#: Host headers accepted by default: the machine itself, by name and address.
DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")


def default_token_file() -> Path:
    """``$XDG_CONFIG_HOME/clustomer/token``, by default ``~/.config/clustomer/token``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "clustomer" / "token"


@dataclass(frozen=True)
class Settings:
    """Settings of one server.

    Parameters
    ----------
    workspace : str or Path
        The workspace file the server reads and writes (must exist).
    host, port : str, int
        Where to listen (loopback by default: the server is for this machine).
    allowed_hosts : tuple of str
        Accepted ``Host`` headers (without the port); ``"*"`` accepts any. Anything else
        gets 400, which stops DNS-rebinding pages from reaching the API.
    max_body_bytes : int
        Largest request body (uploads included); bigger ones get 413 before being read.
    max_json_bytes : int
        Largest body of the JSON endpoints (``POST /api/v1/score``).
    token_file : str or Path
        Where the API token is kept (created with mode 0600 on first start).
    session_hours : float
        How long a page login lasts.
    show_pii : bool
        Show customer keys that are e-mail addresses, and contact e-mails, unmasked on
        the pages (``clustomer serve --show-pii``); masked by default.
    warm : bool
        Build the scoring caches (every customer's key-only score, the recommendations)
        in the background as the server starts, so the first ``POST /api/v1/score`` is
        as fast as the rest.
    """

    workspace: str | Path
    host: str = "127.0.0.1"
    port: int = 8000
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    max_body_bytes: int = 256 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    token_file: str | Path = field(default_factory=default_token_file)
    session_hours: float = 12.0
    show_pii: bool = False
    warm: bool = True

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
