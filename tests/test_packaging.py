"""The installed (non-editable) wheel carries the whole namespace and its data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_maps_the_top_level_folders_into_one_namespace(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
                    str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("kizami-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("kizami/cli/app.py", "kizami/runtime/backend.py", "kizami/export/gguf.py", "kizami/quantize/__init__.py",
                     "kizami/calib_data/recipes/default.toml", "kizami/calib_data/builtin/ja/hash_table.md",
                     "kizami/standin/tiny-fcj/model.safetensors", "kizami/recipes/tiny-fcj.toml"):
        assert expected in names, expected
    assert not any(n.split("/")[0] in {"runtime", "export", "quantize", "calib_data"} for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import kizami, kizami.runtime.backend, kizami.calib_data.recipe as r; "
             "from kizami.standin import standin_path; "
             "print(kizami.__file__); print(r.load_recipe('default').name); print(standin_path().is_dir())")
    # -S skips site processing, so the editable install's finder is not loaded; dependencies come via PYTHONPATH
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    proc = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": f"{site}:{deps}", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.split()
    assert out[0].startswith(str(site)) and out[1] == "kizami-default" and out[2] == "True"
