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


def test_no_characteristic_is_named_outside_the_characteristics():
    """Nothing outside `characteristics/` names a registered characteristic in its code (a string
    literal; docstrings, comments and dict keys aside): the rest loops over the registry."""
    import ast
    from pathlib import Path

    from miniature.characteristics import CHARACTERISTICS

    names = set(CHARACTERISTICS)
    root = Path(__file__).resolve().parents[1] / "src" / "miniature"
    found = []
    for path in sorted(root.rglob("*.py")):
        if "characteristics" in path.relative_to(root).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        # a dict key is data (a cache key's field), not a name of the characteristic
        keys = {id(k) for n in ast.walk(tree) if isinstance(n, ast.Dict) for k in n.keys if k is not None}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings | keys
                    and (node.value in names or node.value.split(".")[0] in names and "." in node.value)):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
    assert not found, found
