"""The web API: gates (host, body size, token), every /api/v1 route, errors as JSON."""

from __future__ import annotations

import logging
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from clustomer import Workspace

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from clustomer.web import Settings, create_app  # noqa: E402
from clustomer.web.security import load_or_create_token  # noqa: E402

NEW_ORDERS = (
    "customer_id,order_id,order_date,product_id,quantity,unit_price,currency\n"
    "N0001,X1,2025-01-03 10:00:00,P001,2,12.5,GBP\n"
    "N0001,X2,2025-01-04 10:00:00,P002,1,30.0,GBP\n"
    "N0002,X3,2025-01-04 11:00:00,P003,3,4.0,GBP\n"
)


def segmented_copy(tmp_path_factory: pytest.TempPathFactory, orders: Path) -> Path:
    """A copy of one segmented workspace (small_orders, k=3), built once per session."""
    base = tmp_path_factory.getbasetemp() / "clustomer-web-segmented.duckdb"
    if not base.exists():
        building = base.with_suffix(".building")
        with Workspace(building) as w:
            w.import_file(orders)
            w.segment(k=3, sample_size=300)
        building.rename(base)
    dest = tmp_path_factory.mktemp("web") / "ws.duckdb"
    shutil.copyfile(base, dest)
    return dest


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, small_orders: Path) -> Settings:
    path = segmented_copy(tmp_path_factory, small_orders)
    return Settings(
        workspace=path,
        token_file=tmp_path_factory.mktemp("cfg") / "clustomer" / "token",
        allowed_hosts=("testserver",),
        max_body_bytes=64 * 1024,
        max_json_bytes=8 * 1024,
    )


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = "Bearer " + Path(settings.token_file).read_text().strip()
        yield c


@pytest.fixture(scope="module")
def truth(client: TestClient) -> dict[str, object]:
    """What the workspace itself says (read through the app's own workspace)."""
    state = client.app.state.clustomer  # type: ignore[attr-defined]
    with state.use(read_only=True) as ws:  # under the lock: the start-up warming may run
        return {
            "assignments": ws.assignments(),
            "features": ws.features(ws.run_details()["as_of"]),
        }


# -- security ----------------------------------------------------------------------------
def test_token_file_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "token"
    token = load_or_create_token(path)
    assert len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token
    path.chmod(0o644)
    with pytest.raises(Exception, match="chmod 600"):
        load_or_create_token(path)


ROUTES = [
    ("get", "/api/v1/segments"),
    ("get", "/api/v1/segments/0"),
    ("get", "/api/v1/customers/C0001"),
    ("post", "/api/v1/score"),
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/exports/0"),
    ("post", "/api/v1/imports"),
]


@pytest.mark.parametrize(("method", "url"), ROUTES)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Basic abc"])
def test_api_needs_the_token(client: TestClient, method: str, url: str, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    bare = TestClient(client.app)  # no `with`: shares the running app's state
    r = bare.request(method, url, headers=headers)
    assert r.status_code == 401
    assert "token" in r.json()["error"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_bad_host_is_refused(client: TestClient) -> None:
    r = client.get("/api/v1/segments", headers={"Host": "attacker.example"})
    assert r.status_code == 400
    assert "host" in r.json()["error"].lower()


def test_body_over_the_limit_gets_413_as_json(client: TestClient) -> None:
    big = b"x" * (65 * 1024)
    r = client.post("/api/v1/imports", files={"file": ("a.csv", big, "text/csv")})
    assert r.status_code == 413 and "too large" in r.json()["error"]
    # the scoring route has its own, smaller limit (settings.max_json_bytes)
    orders = [{"order_id": f"o{i}", "ts": "2025-01-01T00:00:00", "amount": 1.0} for i in range(200)]
    r = client.post("/api/v1/score", json={"customer_key": "C0001", "orders": orders})
    assert r.status_code == 413 and r.json()["error"]


def test_chunked_body_over_the_limit_gets_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"y" * 1024

    r = client.post("/api/v1/score", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]


def test_errors_mask_emails_and_never_log_the_token(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = client.headers["Authorization"].split()[1]
    with caplog.at_level(logging.INFO, logger="clustomer.web"):
        r = client.get("/api/v1/customers/anna@example.com")
    assert r.status_code == 404
    assert "anna@example.com" not in r.text and "<e-mail>" in r.json()["error"]
    assert "anna@example.com" not in caplog.text
    assert "GET /api/v1/customers/<e-mail> 404" in caplog.text  # the path is logged, masked
    assert token not in caplog.text


# -- read routes -----------------------------------------------------------------------
def test_segments_match_the_run(client: TestClient, truth: dict) -> None:
    data = client.get("/api/v1/segments").json()
    members = truth["assignments"]
    sizes = members.groupby("segment_id").size().to_dict()
    assert {s["id"]: s["size"] for s in data["segments"]} == sizes
    assert data["customers"] == len(members) and data["k"] == 3
    assert abs(sum(s["share_customers"] for s in data["segments"]) - 1.0) < 1e-3
    assert all(s["clv_12m_total"] is not None for s in data["segments"])


def test_segment_detail_has_profile_rules_playbook(client: TestClient, truth: dict) -> None:
    seg = int(truth["assignments"]["segment_id"].iloc[0])
    d = client.get(f"/api/v1/segments/{seg}").json()
    assert d["segment"]["id"] == seg
    assert d["rules"] and all(d["segment"]["name"] in r for r in d["rules"])
    assert d["playbook"]["objective"] and d["playbook"]["actions"]
    assert "median_monetary" in d["profile"]
    r = client.get("/api/v1/segments/99")
    assert r.status_code == 404 and "99" in r.json()["error"]
    assert client.get("/api/v1/segments/abc").status_code == 422


def test_customer_detail(client: TestClient, truth: dict) -> None:
    members, feats = truth["assignments"], truth["features"]
    key = str(members["customer_key"].iloc[5])
    d = client.get(f"/api/v1/customers/{key}").json()
    row = feats[feats["customer_key"] == key].iloc[0]
    assert d["features"]["frequency"] == int(row["frequency"])
    assert d["features"]["monetary"] == pytest.approx(float(row["monetary"]), abs=1e-3)
    assert d["segment_name"] == members["segment_name"].iloc[5]
    assert [h["run_id"] for h in d["history"]] == [d["run_id"]]
    assert 0.0 <= d["values"]["p_active_90d"] <= 1.0


def test_runs(client: TestClient) -> None:
    runs = client.get("/api/v1/runs").json()["runs"]
    assert len(runs) == 1 and runs[0]["k"] == 3 and runs[0]["n_customers"] == 300


# -- scoring ---------------------------------------------------------------------------
def test_score_without_new_orders_gives_the_run_segment(client: TestClient, truth: dict) -> None:
    members = truth["assignments"]
    for i in range(0, 300, 37):
        key = str(members["customer_key"].iloc[i])
        d = client.post("/api/v1/score", json={"customer_key": key, "top": 3}).json()
        assert d["segment_id"] == int(members["segment_id"].iloc[i]) == d["run_segment_id"]
        assert d["known"] and d["new_lines"] == 0 and d["value_basis"].startswith("stored")
        assert sum(d["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert len(d["recommendations"]) <= 3


def test_score_folds_in_new_orders_without_writing(client: TestClient, truth: dict) -> None:
    state = client.app.state.clustomer  # type: ignore[attr-defined]
    with state.use(read_only=True) as ws:
        lines_before = len(ws.order_lines())
    feats = truth["features"]
    lapsed = feats.sort_values("recency_days").iloc[-1]  # the longest-lapsed customer
    body = {
        "customer_key": lapsed["customer_key"],
        "orders": [
            {"order_id": "NEW1", "ts": "2025-01-10T09:00:00+01:00", "amount": 2500.0},
            {"order_id": "NEW1", "ts": "2025-01-10T09:00:00+01:00", "quantity": 2, "unit_price": 5},
        ],
    }
    d = client.post("/api/v1/score", json=body).json()
    assert d["new_lines"] == 2
    assert d["features"]["frequency"] == int(lapsed["frequency"]) + 1  # one new order
    assert d["features"]["monetary"] == pytest.approx(float(lapsed["monetary"]) + 2510, abs=0.01)
    assert d["features"]["recency_days"] == 1.0 and d["as_of"] == "2025-01-11"
    assert d["value_basis"].startswith("real-time") and d["p_active_90d"] > 0
    assert d["segment_name"] != d["run_segment_name"]  # 2,510 more makes a lapsed customer move
    with state.use(read_only=True) as ws:
        assert len(ws.order_lines()) == lines_before  # nothing written


def test_a_new_customer_gets_their_segments_popular_products(client: TestClient) -> None:
    state = client.app.state.clustomer  # type: ignore[attr-defined]
    with state.use(read_only=True) as ws:
        favourites = ws.segment_favourites(top=10)
        product = str(ws.order_lines()["product_id"].dropna().iloc[0])
    body = {
        "orders": [
            {"order_id": "W1", "ts": "2025-01-10T09:00:00", "product_id": product, "amount": 40}
        ],
        "top": 4,
    }
    d = client.post("/api/v1/score", json=body).json()
    assert not d["known"] and d["customer_key"] == "(new customer)"
    expected = favourites[d["segment_name"]] or favourites[""]
    assert [r["product_id"] for r in d["recommendations"]] == [
        str(r["product_id"]) for r in expected[:4]
    ]
    assert len(d["recommendations"]) == 4 and "popular" in d["recommendations_note"]
    assert all("popular" in r["reason"] for r in d["recommendations"])
    # a known customer keeps their own list; top=0 asks for none
    d0 = client.post("/api/v1/score", json={**body, "top": 0}).json()
    assert d0["recommendations"] == [] and d0["recommendations_note"] is None


def test_segment_favourites_are_the_cold_start_of_each_segment(client: TestClient) -> None:
    state = client.app.state.clustomer  # type: ignore[attr-defined]
    with state.use(read_only=True) as ws:
        fav = ws.segment_favourites(top=5)
        names = set(ws.assignments()["segment_name"])
        recs = ws.recommendations(top=5, customers=["nobody-yet"])
    assert set(fav) == names | {""} and all(fav[n] for n in fav)
    for name, rows in fav.items():
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        assert all(0 < r["score"] <= 1 for r in rows)
        assert len({r["product_id"] for r in rows}) == len(rows)
        reason = "popular in your segment" if name else "popular with customers right now"
        assert all(r["reason"] == reason for r in rows)
    # a key without purchases and without a segment gets exactly the shop-wide list
    assert [str(p) for p in recs["product_id"]] == [str(r["product_id"]) for r in fav[""]]


def test_cached_key_only_scores_equal_the_per_customer_path(client: TestClient) -> None:
    from clustomer.web.scoring import ModelCache, score_customer

    state = client.app.state.clustomer  # type: ignore[attr-defined]
    with state.use(read_only=True) as ws:
        models, uncached = ModelCache(), ModelCache()
        scores = models.scores(ws.store)
        assert len(scores.entries) > 250  # the cache, not the per-customer path, answers
        uncached.scores(ws.store).entries = {}  # every key takes the per-customer path
        recs = ws.recommendations(top=10)
        for key in sorted(scores.entries)[::29]:
            mine = recs[recs["customer_key"] == key]
            fast = score_customer(ws.store, models, key, recommendations=mine, top=3)
            slow = score_customer(ws.store, uncached, key, recommendations=mine, top=3)
            # sums over the whole table and over one customer may differ in the last bit
            fp, sp = fast.pop("probabilities"), slow.pop("probabilities")
            assert fast == slow and fp and fp == pytest.approx(sp, abs=1e-9)


def test_a_use_that_may_write_makes_the_app_check_the_stamp(
    client: TestClient, truth: dict
) -> None:
    state = client.app.state.clustomer  # type: ignore[attr-defined]
    key = str(truth["assignments"]["customer_key"].iloc[7])
    first = client.post("/api/v1/score", json={"customer_key": key}).json()
    assert state.models.ready(key) and state.recommendations_ready()
    with state.use(read_only=True):
        pass
    assert state.models.ready(key)
    with state.use():  # e.g. an import: the stamp is read again on the next score
        pass
    assert not state.models.ready(key) and not state.recommendations_ready()
    assert client.post("/api/v1/score", json={"customer_key": key}).json() == first
    assert state.models.ready(key)


def test_score_cache_follows_a_new_run(
    tmp_path_factory: pytest.TempPathFactory, small_orders: Path
) -> None:
    from clustomer.web.scoring import ModelCache, score_customer

    with Workspace(segmented_copy(tmp_path_factory, small_orders)) as w:
        tracked, plain = ModelCache(track_writes=True), ModelCache()
        key = str(w.assignments()["customer_key"].iloc[5])
        first = score_customer(w.store, tracked, key)
        assert score_customer(w.store, plain, key)["run_id"] == first["run_id"]
        w.segment(k=2, sample_size=300)
        new = w.assignments().set_index("customer_key")
        assert score_customer(w.store, tracked, key) == first  # tracked: stale until told
        tracked.changed()
        for models in (tracked, plain):
            d = score_customer(w.store, models, key)
            assert d["run_id"] == first["run_id"] + 1
            assert d["segment_id"] == d["run_segment_id"] == int(new.loc[key, "segment_id"])
            assert set(d["probabilities"]) <= set(new["segment_name"])
            assert sum(d["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)


def test_score_a_new_customer_and_bad_bodies(client: TestClient) -> None:
    body = {"orders": [{"order_id": "a", "ts": "2025-01-02T10:00:00", "amount": 15.0}]}
    d = client.post("/api/v1/score", json=body).json()
    assert not d["known"] and d["features"]["frequency"] == 1 and d["segment_id"] >= 0
    assert client.post("/api/v1/score", json={"customer_key": "nobody"}).status_code == 404
    for bad in (
        {},
        {"customer_key": "C0001", "extra": 1},
        {"orders": [{"order_id": "a", "ts": "2025-01-02T10:00:00"}]},  # no value
        {"orders": [{"order_id": "a", "ts": "not a date", "amount": 1}]},
        {"customer_key": "C0001", "top": 500},
    ):
        r = client.post("/api/v1/score", json=bad)
        assert r.status_code == 422, bad
        assert r.json()["error"].startswith("invalid request")
    r = client.post(
        "/api/v1/score", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422


# -- exports and imports -----------------------------------------------------------------
def test_export_streams_the_file_and_records_the_audience(client: TestClient, truth: dict) -> None:
    members = truth["assignments"]
    seg = int(members["segment_id"].iloc[0])
    name = str(members["segment_name"].iloc[0])
    r = client.get(f"/api/v1/exports/{name}", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = r.text.strip().splitlines()
    assert (
        len(rows) - 1
        == int((members["segment_id"] == seg).sum())
        == int(r.headers["x-customers-written"])
    )
    first = int(r.headers["x-audience-id"])
    r2 = client.get(f"/api/v1/exports/{seg}", params={"format": "mailchimp", "holdout": 0.5})
    assert r2.status_code == 200 and int(r2.headers["x-audience-id"]) == first + 1
    assert r2.text.startswith("Email Address")
    assert not list(client.app.state.clustomer.scratch_dir.iterdir())  # type: ignore[attr-defined]
    bad = client.get("/api/v1/exports/Nobody")
    assert bad.status_code == 404 and "Nobody" in bad.json()["error"]
    assert client.get(f"/api/v1/exports/{seg}", params={"format": "pdf"}).status_code == 422


def test_import_upload(client: TestClient) -> None:
    files = {"file": ("../../etc/new orders.csv", NEW_ORDERS.encode(), "text/csv")}
    d = client.post("/api/v1/imports", files=files).json()
    assert d["rows_read"] == 3 and d["customers"] == 2 and not d["already_imported"]
    assert d["file"] == "new orders.csv"
    state = client.app.state.clustomer  # type: ignore[attr-defined]
    with state.use(read_only=True) as ws:  # the import records the upload's own name
        recorded = ws.store.scalar(
            "SELECT file_name FROM imports WHERE import_id = ?", [d["import_id"]]
        )
    assert recorded == "new orders.csv"
    again = client.post("/api/v1/imports", files=files).json()
    assert again["already_imported"]
    scratch = client.app.state.clustomer.scratch_dir  # type: ignore[attr-defined]
    assert not list(scratch.iterdir())  # the upload is removed after the import
    eur = NEW_ORDERS.replace("GBP", "EUR").replace("X", "Y")
    r = client.post("/api/v1/imports", files={"file": ("eur.csv", eur.encode(), "text/csv")})
    assert r.status_code == 400 and "EUR" in r.json()["error"]
    r = client.post("/api/v1/imports", files={"file": ("notes.pdf", b"%PDF", "application/pdf")})
    assert r.status_code == 400 and ".csv" in r.json()["error"]
    r = client.post("/api/v1/imports", files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")})
    assert r.status_code == 400 and r.json()["error"]


def test_workspace_without_a_run_answers_409(tmp_path: Path, small_orders: Path) -> None:
    path = tmp_path / "fresh.duckdb"
    with Workspace(path) as w:
        w.import_file(small_orders)
    s = Settings(workspace=path, token_file=tmp_path / "token", allowed_hosts=("testserver",))
    with TestClient(create_app(s)) as c:
        c.headers["Authorization"] = "Bearer " + (tmp_path / "token").read_text().strip()
        r = c.get("/api/v1/segments")
        assert r.status_code == 409 and "segment" in r.json()["error"]
        assert c.post("/api/v1/score", json={"customer_key": "C0001"}).status_code == 409
        assert c.get("/api/v1/runs").json() == {"runs": []}


def test_missing_workspace_fails_at_start_not_at_import(tmp_path: Path) -> None:
    app = create_app(Settings(workspace=tmp_path / "none.duckdb", token_file=tmp_path / "t"))
    with pytest.raises(Exception, match="none.duckdb"):
        with TestClient(app):
            pass
    assert not (tmp_path / "none.duckdb").exists()


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ("..\\\\..\\\\win orders.CSV", "win orders.csv"),
        ("/etc/passwd.csv", "passwd.csv"),
        ("$(rm -rf ~);.csv", "__rm -rf ___.csv"),
        ("....csv", "upload.csv"),
        ("ünïcode.parquet", "_n_code.parquet"),
    ],
)
def test_upload_names_never_make_paths(tmp_path: Path, name: str, saved: str) -> None:
    import io

    from fastapi import UploadFile

    from clustomer.web.routers.imports import discard_upload, save_upload

    class _State:
        scratch_dir = tmp_path

    path = save_upload(_State(), UploadFile(io.BytesIO(b"x"), filename=name))  # type: ignore[arg-type]
    assert path.name == saved and path.parent.parent == tmp_path and path.read_bytes() == b"x"
    discard_upload(path)
    assert not list(tmp_path.iterdir())


def test_cached_scores_do_not_wait_for_the_workspace(client: TestClient, truth: dict) -> None:
    import threading

    state = client.app.state.clustomer  # type: ignore[attr-defined]
    key = str(truth["assignments"]["customer_key"].iloc[3])
    first = client.post("/api/v1/score", json={"customer_key": key}).json()  # fills the caches
    new = {
        "customer_key": key,
        "orders": [{"order_id": "N", "ts": "2025-01-10T09:00:00", "amount": 5}],
    }
    with_lines = client.post("/api/v1/score", json=new).json()
    holding, release = threading.Event(), threading.Event()

    def job() -> None:  # e.g. an upload being imported and segmented
        with state.lock:
            holding.set()
            release.wait(30)

    def ask(body: dict, into: list) -> threading.Thread:
        asker = threading.Thread(
            target=lambda: into.append(client.post("/api/v1/score", json=body))
        )
        asker.start()
        return asker

    worker = threading.Thread(target=job)
    worker.start()
    scores = state.models.scores(state.workspace.store)
    book = scores.book
    try:
        assert holding.wait(10)
        answers: list = []
        ask({"customer_key": key}, answers).join(10)
        ask(new, answers).join(10)  # new lines: from the in-memory line book
        assert [a.json() for a in answers] == [first, with_lines]  # while the lock was held
        scores.book = None  # as in a workspace too big for the book: the scratch path
        blocked: list = []
        waiting = ask(new, blocked)
        waiting.join(0.5)
        assert blocked == []  # the scratch path reads the workspace: it waits for the job
    finally:
        release.set()
        worker.join()
    waiting.join(30)
    scores.book = book
    assert [b.status_code for b in blocked] == [200]
    slow = blocked[0].json()
    # the same answer; the twin's softmax may differ from scikit-learn's in the last bits
    slow_p, fast_p = slow.pop("probabilities"), with_lines.pop("probabilities")
    assert slow == with_lines and slow_p == pytest.approx(fast_p, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("warm", [True, False])
def test_the_server_warms_its_caches_at_start(
    tmp_path_factory: pytest.TempPathFactory, small_orders: Path, warm: bool
) -> None:
    import time

    path = segmented_copy(tmp_path_factory, small_orders)
    s = Settings(
        workspace=path,
        token_file=tmp_path_factory.mktemp("warm") / "token",
        allowed_hosts=("testserver",),
        warm=warm,
    )
    with TestClient(create_app(s)) as c:
        state = c.app.state.clustomer  # type: ignore[attr-defined]
        with state.use(read_only=True) as ws:
            key = str(ws.assignments()["customer_key"].iloc[0])
        deadline = time.monotonic() + 60
        while warm and not state.cached_score(key, 3) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        # warmed: a key-only score with products is a lookup before any request
        assert (state.cached_score(key, 3) is not None) is warm
