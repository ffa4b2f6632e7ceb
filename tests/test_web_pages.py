"""The pages: login and session cookie, each page's status and content, the upload job."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from clustomer.web import Settings, create_app  # noqa: E402


@pytest.fixture(scope="module")
def app_and_token(
    tmp_path_factory: pytest.TempPathFactory, small_orders: Path
) -> Iterator[tuple[object, str]]:
    from test_web_api import segmented_copy

    cfg = tmp_path_factory.mktemp("pagecfg")
    s = Settings(
        workspace=segmented_copy(tmp_path_factory, small_orders),
        token_file=cfg / "token",
        allowed_hosts=("testserver",),
    )
    app = create_app(s)
    with TestClient(app):
        yield app, (cfg / "token").read_text().strip()


@pytest.fixture(scope="module")
def page(app_and_token: tuple[object, str]) -> TestClient:
    """A client logged in through the form."""
    app, token = app_and_token
    c = TestClient(app)
    r = c.post("/login", data={"token": token, "next": "/runs"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/runs"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return c


def test_pages_need_a_login(app_and_token: tuple[object, str]) -> None:
    app, token = app_and_token
    c = TestClient(app)
    for url in ("/", "/runs", "/customers", "/upload", "/segments/0", "/jobs/abc"):
        r = c.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), url
    assert c.get("/login").status_code == 200
    bad = c.post("/login", data={"token": "nope"}, follow_redirects=False)
    assert bad.status_code == 401 and "not the token" in bad.text
    # an open redirect after login is refused: only local paths
    r = c.post("/login", data={"token": token, "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/"
    # a forged cookie is no session
    c2 = TestClient(app, cookies={"clustomer_session": "9999999999.deadbeef"})
    assert c2.get("/", follow_redirects=False).status_code == 303


def test_overview_and_runs(page: TestClient, app_and_token: tuple[object, str]) -> None:
    with app_and_token[0].state.clustomer.use(read_only=True) as ws:  # type: ignore[attr-defined]
        names = set(ws.assignments()["segment_name"])
    r = page.get("/")
    assert r.status_code == 200
    assert "300" in r.text and "/static/plotly.min.js" in r.text
    assert all(n in r.text for n in names)
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "<script>" not in r.text  # no inline scripts: data sits in a JSON block
    runs = page.get("/runs")
    assert runs.status_code == 200 and "kmeans" in runs.text


def test_segment_and_customer_pages(page: TestClient, app_and_token: tuple[object, str]) -> None:
    with app_and_token[0].state.clustomer.use(read_only=True) as ws:  # type: ignore[attr-defined]
        members = ws.assignments()
    seg, name = int(members["segment_id"].iloc[0]), str(members["segment_name"].iloc[0])
    r = page.get(f"/segments/{seg}")
    assert r.status_code == 200 and name in r.text and "Playbook" in r.text and "Export" in r.text
    assert page.get("/segments/42").status_code == 404
    exported = page.get(f"/segments/{seg}/export", params={"format": "csv"})
    assert exported.status_code == 200 and exported.text.startswith("customer_key")
    key = str(members["customer_key"].iloc[3])
    r = page.get("/customers", params={"key": key})
    assert r.status_code == 200 and key in r.text and str(members["segment_name"].iloc[3]) in r.text
    # the lookup form posts the key (no key in the URL); the segment page links by rank
    posted = page.post("/customers", data={"key": key})
    assert posted.status_code == 200 and str(members["segment_name"].iloc[3]) in posted.text
    seg_page = page.get(f"/segments/{seg}").text
    assert "/customers?segment=" in seg_page and "key=" not in seg_page
    first = page.get("/customers", params={"segment": seg, "rank": 1})
    assert first.status_code == 200 and name in first.text
    assert page.get("/customers", params={"segment": seg, "rank": 99}).status_code == 404
    evil = page.get("/customers", params={"key": "<script>alert(1)</script>"})
    assert evil.status_code == 404
    assert "<script>alert" not in evil.text and "&lt;script&gt;" in evil.text


def test_plotly_is_served_locally(page: TestClient) -> None:
    r = page.get("/static/plotly.min.js")
    assert r.status_code == 200 and len(r.content) > 1_000_000
    assert r.headers["content-type"].startswith("application/javascript")
    assert page.get("/static/app.js").status_code == 200
    assert page.get("/static/../../etc/passwd").status_code == 404


def test_upload_runs_a_background_job(page: TestClient) -> None:
    csv = (
        "customer_id,order_id,order_date,product_id,quantity,unit_price,currency\n"
        "Z0001,Z1,2025-01-03 10:00:00,P001,2,12.5,GBP\n"
        "Z0002,Z2,2025-01-04 10:00:00,P002,1,30.0,GBP\n"
        ",Z3,2025-01-04 11:00:00,P002,1,30.0,GBP\n"  # no customer: dropped, with a reason
    )
    r = page.post("/upload", files={"file": ("more.csv", csv.encode())}, follow_redirects=False)
    assert r.status_code == 303 and "/upload?job=" in r.headers["location"]
    job = r.headers["location"].split("job=")[1]
    assert page.get(r.headers["location"]).status_code == 200
    deadline = time.monotonic() + 60
    status = page.get(f"/jobs/{job}").json()
    while status["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        status = page.get(f"/jobs/{job}").json()
    assert status["status"] == "done", status
    result = status["result"]
    assert result["run_id"] == 2 and result["rows_kept"] == 2 and result["file"] == "more.csv"
    # the row accounting the page shows: every row kept or dropped with a reason
    assert result["rows_read"] == 3 == result["rows_kept"] + sum(result["rows_dropped"].values())
    assert status["detail"]["rows_dropped"] == result["rows_dropped"] != {}
    assert page.get("/jobs/unknown").status_code == 404
    bad = page.post("/upload", files={"file": ("x.exe", b"MZ")}, follow_redirects=False)
    assert bad.status_code == 400


def test_overview_counts_customers_left_out_of_the_segments(
    tmp_path: Path, write_file: Callable[..., Path]
) -> None:
    from clustomer import Workspace
    from clustomer.web.data import overview

    rows = ["customer_id,order_id,order_date,amount"]
    for c in range(12):
        for o in range(1 + c % 3):
            rows.append(f"c{c},o{c}-{o},2024-0{1 + o}-1{c % 9},{10 + c * 3 + o}")
    rows.append("r1,r1-1,2024-02-02,-15")  # a customer with a return only
    path = write_file("orders.csv", "\n".join(rows) + "\n")
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.import_file(path)
        ws.segment()
        data = overview(ws)
    assert data["returns_only"] == 1 and data["unassigned"] == 0
    assert data["left_out"] == "1 with returns only"
    assert data["customers"] == 13
    assert sum(s["size"] for s in data["summary"]["segments"]) == 12


def test_email_keys_are_masked_on_the_pages_unless_show_pii(
    tmp_path: Path, write_file: Callable[..., Path]
) -> None:
    import dataclasses

    from clustomer import Workspace

    rows = ["customer_id,order_id,order_date,amount,currency"]
    for c in range(40):
        for o in range(1 + c % 3):
            rows.append(f"shopper{c}@example.com,o{c}-{o},2024-0{1 + o}-1{c % 9},{10 + c + o},GBP")
    path = write_file("emails.csv", "\n".join(rows) + "\n")
    db = tmp_path / "ws.duckdb"
    with Workspace(db) as ws:
        ws.import_file(path)
        ws.segment(k=2)
    base = Settings(workspace=db, token_file=tmp_path / "token", allowed_hosts=("testserver",))
    for show in (False, True):
        with TestClient(create_app(dataclasses.replace(base, show_pii=show))) as c:
            token = (tmp_path / "token").read_text().strip()
            c.post("/login", data={"token": token})
            r = c.post("/customers", data={"key": "shopper7@example.com"})
            assert r.status_code == 200
            assert ("shopper7@example.com" in r.text) is show
            seg = c.get("/segments/0").text
            assert "@example.com" not in seg  # members show the key's last characters
