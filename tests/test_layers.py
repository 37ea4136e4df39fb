"""The layering, plainly: low modules load nothing above them (the import-linter contract in
.importlinter states the whole order; `make test` runs it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


HEAVY = {"torch", "transformers", "miniature.api", "miniature.study", "miniature.zoo", "miniature.tasks"}


@pytest.mark.parametrize("module", ["miniature.agreement", "miniature.knn", "miniature.runs", "miniature.config",
                                    "miniature.files", "miniature.report.collect"])
def test_low_modules_load_no_models_and_no_study(module):
    loaded = _loaded_after(f"import {module}")
    assert module in loaded
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


def test_the_package_loads_its_api_on_first_use():
    loaded = _loaded_after("import miniature; v = miniature.__version__")
    assert not loaded & HEAVY
    loaded = _loaded_after("import miniature; f = miniature.errors")
    assert "miniature.api" in loaded


def test_the_version_is_defined_once():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python 3.11+")
    from pathlib import Path

    import miniature
    from miniature.version import __version__

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert "version" in project.get("dynamic", []) and "version" not in project
    assert miniature.__version__ == __version__
