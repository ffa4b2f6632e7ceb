"""The house rules of docs/ARCHITECTURE.md that a machine can check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "clustomer"
CORE = ("features", "segment", "clv", "recommend", "playbook", "export", "campaign")
OUTER = ("cli", "cli_common", "cli_marketing", "cli_render", "report", "pipeline", "marketing")
IMPORT = re.compile(r"^\s*(?:from|import)\s+clustomer\.(\w+)", re.MULTILINE)


@pytest.mark.parametrize("package", CORE)
def test_core_code_never_imports_the_outer_layers(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no files in {package}"
    for path in files:
        used = set(IMPORT.findall(path.read_text(encoding="utf-8")))
        assert not used & set(OUTER), f"{path.relative_to(SRC)} imports {used & set(OUTER)}"


def test_no_source_file_passes_600_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert not long, f"split these files: {long}"
