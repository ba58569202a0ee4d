"""The walls between quantize/, export/, runtime/ and calib_data/ (import-linter contracts in pyproject.toml),
checked on an installed copy of the package: the editable install maps the folders, which the linter cannot follow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# calib_data/ builds the calibration and evaluation sets from text alone: all it may import of kizami
CALIB_DATA_MAY_IMPORT = {"kizami.errors", "kizami.tokenizer", "kizami.tomlread"}

_CALIB_DATA_IMPORTS = """
import grimp, json
g = grimp.build_graph("kizami")
mine = {"kizami.calib_data", *g.find_descendants("kizami.calib_data")}
print(json.dumps(sorted({i for m in mine for i in g.find_modules_directly_imported_by(m)} - mine)))
"""


def test_import_contracts_hold(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(tmp_path / "site"), str(ROOT)],
                   check=True, capture_output=True, text=True)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    linter = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml")], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 kept, 0 broken" in proc.stdout, proc.stdout[-2000:]
    proc = subprocess.run([sys.executable, "-c", _CALIB_DATA_IMPORTS], capture_output=True, text=True, env=env,
                          cwd=tmp_path, check=True)
    assert set(json.loads(proc.stdout)) <= CALIB_DATA_MAY_IMPORT, proc.stdout
