"""The walls between the folders (import-linter contracts in pyproject.toml) and the absence of any import circle,
checked on an installed copy of the package: the editable install maps the folders, which the linter cannot follow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# calib_data/ builds the calibration and evaluation sets from text alone: all it may import of kizami
CALIB_DATA_MAY_IMPORT = {"kizami.core.errors", "kizami.core.tokenizer", "kizami.core.tomlread"}

_CALIB_DATA_IMPORTS = """
import grimp, json
g = grimp.build_graph("kizami")
mine = {"kizami.calib_data", *g.find_descendants("kizami.calib_data")}
print(json.dumps(sorted({i for m in mine for i in g.find_modules_directly_imported_by(m)} - mine)))
"""


# Every module's strongly connected component of direct imports (Tarjan): any component of two or more is a circle.
_CIRCLES = """
import grimp, json, sys
sys.setrecursionlimit(10000)
g = grimp.build_graph("kizami")
index, low, open_, stack, circles = {}, {}, set(), [], []
def visit(v):
    index[v] = low[v] = len(index); stack.append(v); open_.add(v)
    for w in g.find_modules_directly_imported_by(v):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in open_:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        part = []
        while not part or part[-1] != v:
            part.append(stack.pop()); open_.discard(part[-1])
        if len(part) > 1:
            circles.append(sorted(part))
for m in sorted(g.modules):
    if m not in index:
        visit(m)
print(json.dumps(circles))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    where = tmp_path_factory.mktemp("walls")
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools would merge an old build/lib: moved modules linger
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(where / "site"), str(ROOT)],
                   check=True, capture_output=True, text=True)
    return where, {**os.environ, "PYTHONPATH": str(where / "site")}


def test_import_contracts_hold(installed: tuple[Path, dict[str, str]]) -> None:
    tmp_path, env = installed
    linter = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml")], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 kept, 0 broken" in proc.stdout, proc.stdout[-2000:]
    proc = subprocess.run([sys.executable, "-c", _CALIB_DATA_IMPORTS], capture_output=True, text=True, env=env,
                          cwd=tmp_path, check=True)
    assert set(json.loads(proc.stdout)) <= CALIB_DATA_MAY_IMPORT, proc.stdout


def test_no_module_imports_itself_through_a_circle(installed: tuple[Path, dict[str, str]]) -> None:
    tmp_path, env = installed
    proc = subprocess.run([sys.executable, "-c", _CIRCLES], capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert json.loads(proc.stdout) == [], proc.stdout
