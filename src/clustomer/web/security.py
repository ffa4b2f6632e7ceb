"""The server's secrets and gates: the API token, page sessions, the Host allow-list.

* The **token** is made on first start with :func:`secrets.token_urlsafe`, written with
  mode 0600 to a file outside the workspace, and never logged. The API wants it as a
  bearer token; the login page wants it once, then sets a session cookie.
* A **session cookie** is ``<expiry>.<HMAC-SHA256(expiry)>``, keyed by a hash of the
  token (so a new token ends every session); ``HttpOnly`` and ``SameSite=Strict``.
* :class:`HostAllowList` answers 400 (JSON) to a request whose ``Host`` header is not
  allowed: a page on another site that resolves its name to 127.0.0.1 cannot use the API.

>>> check_token("abc", "abc"), check_token("abd", "abc"), check_token(None, "abc")
(True, False, False)
>>> cookie = sign_session("tok", expires=2_000_000_000)
>>> verify_session("tok", cookie, now=1_900_000_000), verify_session("other", cookie)
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import time
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clustomer.errors import WorkspaceError

__all__ = [
    "SESSION_COOKIE",
    "HostAllowList",
    "JsonBodyLimit",
    "check_token",
    "load_or_create_token",
    "sign_session",
    "verify_session",
]

SESSION_COOKIE = "clustomer_session"


def load_or_create_token(path: str | Path) -> str:
    """The API token kept in ``path``; a new one (0600, folder 0700) if there is none.

    Raises
    ------
    WorkspaceError
        When the file exists but other users may read it, or is empty.
    """
    file = Path(path).expanduser()
    if file.exists():
        if os.name == "posix" and file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise WorkspaceError(
                f"the token file {file} can be read by other users; run: chmod 600 {file}"
            )
        token = file.read_text(encoding="utf-8").strip()
        if not token:
            raise WorkspaceError(f"the token file {file} is empty; delete it to get a new token")
        return token
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token


def check_token(given: str | None, expected: str) -> bool:
    """Whether ``given`` is the token, compared in constant time."""
    if not given:
        return False
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _session_key(token: str) -> bytes:
    return hashlib.sha256(b"clustomer-session\0" + token.encode("utf-8")).digest()


def sign_session(token: str, *, expires: int) -> str:
    """A session cookie value that is valid until ``expires`` (Unix seconds)."""
    mac = hmac.new(_session_key(token), str(expires).encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac}"


def verify_session(token: str, value: str | None, *, now: float | None = None) -> bool:
    """Whether a cookie value was signed with this token and has not expired."""
    if not value or "." not in value:
        return False
    expires, _, mac = value.partition(".")
    if not expires.isdigit():
        return False
    good = hmac.new(_session_key(token), expires.encode(), hashlib.sha256).hexdigest()
    if not secrets.compare_digest(mac.encode(), good.encode()):
        return False
    return int(expires) > (time.time() if now is None else now)


def _host_name(header: str) -> str:
    """``Host`` header without its port: ``[::1]:8000`` -> ``::1``, ``a.b:80`` -> ``a.b``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostAllowList:
    """ASGI middleware: 400 ``{"error": ...}`` unless the ``Host`` header is allowed."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...]) -> None:
        self.app = app
        self.any = "*" in allowed_hosts
        self.allowed = {h.lower().strip("[]") for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any:
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1")
                break
        if _host_name(host) in self.allowed:
            await self.app(scope, receive, send)
            return
        await send_json_error(send, 400, "this host name is not allowed (Host header)")


async def send_json_error(send: Send, status: int, message: str) -> None:
    """Send a whole ``{"error": message}`` response from ASGI middleware."""
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class JsonBodyLimit:
    """ASGI middleware around FastAPI's own body limit (``max_body_size``).

    A ``Content-Length`` over the limit gets 413 at once, before the app reads a byte;
    a streamed (chunked) body is counted by FastAPI, whose plain-text 413 this turns into
    the JSON error every other response uses.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.message = f"the request body is too large (the limit is {max_body_bytes:,} bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                await send_json_error(send, 413, self.message)
                return
        replaced = False

        async def send_json_413(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413:
                headers = dict(message.get("headers", []))
                if not headers.get(b"content-type", b"").startswith(b"application/json"):
                    replaced = True
                    await send_json_error(send, 413, "the request body is too large")
                    return
            if not replaced:
                await send(message)

        await self.app(scope, receive, send_json_413)
