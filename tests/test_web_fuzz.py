"""Schemathesis over the OpenAPI schema, in process: no 5xx, responses match the schema."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from clustomer.web import Settings, create_app  # noqa: E402

# The schema comes from the app object (no request: that would start the app, and its
# workspace is put in place only by the fixture below); calls go to the app in process.
_DIR = Path(tempfile.mkdtemp(prefix="clustomer-fuzz-"))
APP = create_app(
    Settings(
        workspace=_DIR / "ws.duckdb",
        token_file=_DIR / "token",
        allowed_hosts=("testserver", "localhost"),
        max_body_bytes=256 * 1024,
    )
)
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP  # what from_asgi does after fetching /openapi.json
schema.location = "/openapi.json"


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory, small_orders: Path) -> Iterator[str]:
    from test_web_api import segmented_copy

    shutil.copyfile(segmented_copy(tmp_path_factory, small_orders), _DIR / "ws.duckdb")
    with TestClient(APP):  # the workspace stays open for the whole module
        yield (_DIR / "token").read_text().strip()
    shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_schema(case: Any, token: str) -> None:
    excluded = []
    if case.operation.path == "/api/v1/imports":
        # a schema-valid upload is still a random file: refusing it (400) is right
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=excluded)
