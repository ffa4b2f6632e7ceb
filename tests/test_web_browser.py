"""End to end in a real headless Chromium: log in, upload the sample, wait for the job,
open a segment, download its export, screenshot the upload's accounting and the overview
(``out/test-artifacts``).

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and Playwright for Python; the
browser is never downloaded (no ``playwright install``). Without either, it is skipped.
"""

from __future__ import annotations

import csv
import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "out" / "test-artifacts"
CSV_HEADER = [
    "customer_key",
    "segment",
    "p_active_90d",
    "expected_revenue_90d",
    "clv_12m",
    "email",
    "first_name",
    "last_name",
]
JOB_TIMEOUT_MS = 120_000

pytestmark = pytest.mark.slow

if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The real app under uvicorn on a free loopback port, over a fresh empty workspace.

    Yields the base URL and the token.
    """
    from clustomer import Workspace
    from clustomer.web import Settings, create_app

    db = tmp_path / "shop.duckdb"
    Workspace(db).close()  # the server opens an existing workspace only
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    token_file = tmp_path / "cfg" / "token"
    app = create_app(Settings(workspace=db, port=port, token_file=token_file))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start in 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", token_file.read_text().strip()
    finally:
        srv.should_exit = True
        thread.join(30)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


def _collect_errors(page: Any, errors: list[str], failed: list[str]) -> None:
    """Console errors, uncaught script errors and answers >= 400, as they happen."""
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: failed.append(f"{r.method} {r.url} {r.failure}"))
    page.on(
        "response",
        lambda r: (
            failed.append(f"{r.request.method} {r.url} {r.status}") if r.status >= 400 else None
        ),
    )


def test_browser_end_to_end(server: tuple[str, str], tmp_path: Path) -> None:
    import clustomer

    base, token = server
    errors: list[str] = []
    failed: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                accept_downloads=True, viewport={"width": 1280, "height": 900}
            )
            page = context.new_page()
            page.set_default_timeout(20_000)
            _collect_errors(page, errors, failed)

            # log in through the form; the login returns to the page asked for
            page.goto(f"{base}/upload")
            assert "/login" in page.url
            page.fill("#token", "not the token")
            page.click("button[type=submit]")
            assert page.locator("p.error").inner_text() == "That is not the token."
            page.fill("#token", token)
            page.click("main button[type=submit]")
            page.wait_for_url(f"{base}/upload")

            # an empty workspace: the overview invites an upload
            page.goto(f"{base}/")
            assert "No segments yet" in page.inner_text("main")
            page.goto(f"{base}/upload")

            # upload the bundled sample; the page polls the job until it is done
            page.set_input_files("#file", str(clustomer.sample_path()))
            page.click("main form button[type=submit]")
            page.wait_for_url(re.compile(r"/upload\?job=[0-9a-f]+$"))
            job = page.locator("#job")
            job.filter(has_text=re.compile(r"^(Done|Failed)")).wait_for(timeout=JOB_TIMEOUT_MS)
            status = job.inner_text()
            assert status.startswith("Done: run 1 with "), status
            k = int(re.search(r"with (\d+) segments", status).group(1))  # type: ignore[union-attr]
            assert k >= 2
            # every row of the file accounted for: read = kept + each drop reason
            counts = [
                int(c.replace(",", ""))
                for c in page.locator("#account-rows td.num").all_inner_texts()
            ]
            labels = page.locator("#account-rows tbody tr td:first-child").all_inner_texts()
            assert labels[0].startswith("read from online_retail") and labels[1] == "kept"
            assert all(x.startswith("dropped: ") for x in labels[2:]) and len(labels) > 2
            assert counts[0] == sum(counts[1:]) > 0
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "upload.png"), full_page=True)

            # the overview: KPIs, a plotly chart drawn under the CSP, one row per segment
            job.get_by_role("link", name="See the overview").click()
            page.wait_for_url(f"{base}/")
            page.locator("#sizes svg.main-svg").first.wait_for()
            rows = page.locator("main table tbody tr")
            assert rows.count() == k
            sizes = {
                rows.nth(i).locator("a").inner_text(): int(
                    rows.nth(i).locator("td").nth(1).inner_text().replace(",", "")
                )
                for i in range(k)
            }
            assert len(sizes) == k and all(n > 0 for n in sizes.values())
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "overview.png"
            shot.unlink(missing_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert shot.stat().st_size > 10_000

            # a segment page, then its export as a download
            name = max(sizes, key=lambda n: sizes[n])
            page.get_by_role("link", name=name, exact=True).first.click()
            page.wait_for_url(re.compile(r"/segments/\d+$"))
            assert page.locator("h1").inner_text() == name
            page.select_option("#format", "csv")
            with page.expect_download() as info:
                page.get_by_role("button", name="Export").click()
            download = info.value
            assert download.failure() is None
            # a navigation that becomes a download is "aborted" as a page load: expected
            aborted = f"GET {download.url} net::ERR_ABORTED"
            failed[:] = [f for f in failed if f != aborted]
            assert download.suggested_filename.endswith("-csv.csv")
            target = tmp_path / download.suggested_filename
            download.save_as(target)
            table = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
            assert table[0] == CSV_HEADER
            body = table[1:]
            assert 0 < len(body) <= sizes[name]
            assert {r[1] for r in body} == {name}
            assert len({r[0] for r in body}) == len(body)  # one row per customer
        finally:
            browser.close()
    # the wrong token's 401 is the only error of the whole visit: no CSP violation, no
    # script error, no missing file (a favicon included)
    assert failed == [f"POST {base}/login 401"], failed
    assert errors == [
        "console: Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ], errors
