"""The walls between quantize/, export/, runtime/ and calib_data/ (import-linter contracts in pyproject.toml),
checked on an installed copy of the package: the editable install maps the folders, which the linter cannot follow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(tmp_path / "site"), str(ROOT)],
                   check=True, capture_output=True, text=True)
    linter = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path / "site")}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 kept, 0 broken" in proc.stdout, proc.stdout[-2000:]
