"""The CLI as a user meets it: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kizami import __version__
from kizami.core import manifest


def kizami(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kizami", *args], capture_output=True, text=True, cwd=cwd,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})


def test_help_and_version() -> None:
    help_ = kizami("--help")
    assert help_.returncode == 0
    for command in ("doctor", "verify", "eval", "calib", "toolchain", "standin", "quantize", "export", "run", "report",
                    "bundle"):
        assert command in help_.stdout
    version = kizami("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"kizami {__version__}"


def test_doctor_reports_engines_and_machine() -> None:
    res = kizami("doctor")
    assert res.returncode == 0, res.stderr
    for item in ("torch", "transformers", "llama-cpp-python", "onnxruntime", "llama-quantize", "CPU", "GPU", "disk"):
        assert item in res.stdout


def _assert_one_line_error(res: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    text = " ".join(res.stderr.split())
    assert text.startswith("error:"), res.stderr
    for f in fragments:
        assert f in text, text


def test_verify_exit_codes(tmp_path: Path) -> None:
    out = tmp_path / "b"
    with manifest.staged_build(out, manifest.Manifest(format="gguf")) as stage:
        (stage / "m.gguf").write_bytes(b"GGUF" + b"\x00" * 60)
    ok = kizami("verify", str(out))
    assert ok.returncode == 0 and "OK" in ok.stdout
    (out / "m.gguf").write_bytes(b"GGUF" + b"\x01" * 60)
    bad = kizami("verify", str(out))
    assert bad.returncode == 1 and "sha256" in bad.stdout and "m.gguf" in bad.stdout


def test_bad_input_in_a_real_process_is_one_line(tmp_path: Path) -> None:
    """The full catalogue runs in-process (tests/test_bad_input.py); here, as a user's shell sees it."""
    _assert_one_line_error(kizami("verify", str(tmp_path)), "no kizami.json")
    _assert_one_line_error(kizami("run", str(tmp_path / "nope.toml")), "not found", "kizami init")
    _assert_one_line_error(kizami("export", "gguf", "tiny-fcj", "-o", str(tmp_path / "g"), "--types", "q4_k_x"),
                           "unknown GGUF type", "q4_k_m")
    assert not (tmp_path / "g").exists()


def test_init_writes_a_recipe_that_loads(tmp_path: Path) -> None:
    from kizami.run.recipe import load_run_recipe

    res = kizami("init", str(tmp_path / "r.toml"))
    assert res.returncode == 0
    recipe = load_run_recipe(tmp_path / "r.toml")
    assert {b.format for b in recipe.builds} == {"gptq", "awq", "gguf", "onnx"}
    assert recipe.gates.limits.get("max_kld", 0) > 0
    _assert_one_line_error(kizami("init", str(tmp_path / "r.toml")), "already exists")


def test_exports_to_a_relative_folder(tmp_path: Path, standin: Path) -> None:
    """The engines run in temp folders of their own; a relative ``-o`` must still land where the user said."""
    gguf = kizami("export", "gguf", str(standin), "-o", "out/gguf", "--types", "q4_k_m", cwd=tmp_path)
    assert gguf.returncode == 0, gguf.stderr
    f16, q4 = (next((tmp_path / "out/gguf" / d).glob("*.gguf")) for d in ("F16", "Q4_K_M"))
    assert manifest.load(tmp_path / "out/gguf/Q4_K_M").parameters["imatrix_sha256"]  # the imatrix stage ran too
    assert q4.stat().st_size < 0.45 * f16.stat().st_size
    onnx = kizami("export", "onnx", str(standin), "-o", "out/onnx", cwd=tmp_path)
    assert onnx.returncode == 0, onnx.stderr
    assert manifest.verify(tmp_path / "out/onnx") == [] and (tmp_path / "out/onnx/model.onnx.data").stat().st_size < 30e6
