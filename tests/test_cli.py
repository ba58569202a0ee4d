"""The CLI as a user meets it: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kizami import __version__, manifest


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


def test_bad_input_gets_one_line_errors(tmp_path: Path) -> None:
    _assert_one_line_error(kizami("verify", str(tmp_path)), "no kizami.json")
    _assert_one_line_error(kizami("calib", "show", str(tmp_path / "nope")), "no kizami.json")
    _assert_one_line_error(kizami("calib", "build", "-o", str(tmp_path / "c"), "--recipe", str(tmp_path / "r.toml")),
                           "not found")
    assert not (tmp_path / "c").exists()


def _fake_checkpoint(root: Path, *, model_type: str = "llama", weights: str = "model.safetensors") -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "%s"}' % model_type)
    (root / weights).write_bytes(b"\x00" * 16)
    return root


def test_bad_checkpoints_get_one_line_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    nothing = tmp_path / "missing"
    _assert_one_line_error(kizami("eval", str(nothing), "--ref", str(nothing), "--data", str(data)), "does not exist")
    empty = tmp_path / "empty"
    empty.mkdir()
    _assert_one_line_error(kizami("export", "gguf", str(empty), "-o", str(tmp_path / "o")), "no config.json")
    odd = _fake_checkpoint(tmp_path / "odd", model_type="bert")
    _assert_one_line_error(kizami("export", "gguf", str(odd), "-o", str(tmp_path / "o")), "model_type 'bert' is not supported")
    pickled = _fake_checkpoint(tmp_path / "pickled", weights="pytorch_model.bin")
    _assert_one_line_error(kizami("export", "gguf", str(pickled), "-o", str(tmp_path / "o")), "pickle", "--allow-pickle")
    assert not (tmp_path / "o").exists()


def test_unreadable_manifest_and_bad_types(tmp_path: Path) -> None:
    (tmp_path / "kizami.json").write_text("{broken")
    _assert_one_line_error(kizami("verify", str(tmp_path)), "not valid JSON")
    _assert_one_line_error(kizami("export", "gguf", "tiny-fcj", "-o", str(tmp_path / "g"), "--types", "q4_k_x"),
                           "unknown GGUF type", "q4_k_m")
    _assert_one_line_error(kizami("run", str(tmp_path / "nope.toml")), "not found", "kizami init")


def test_init_writes_a_recipe_that_loads(tmp_path: Path) -> None:
    from kizami.pipeline import load_run_recipe

    res = kizami("init", str(tmp_path / "r.toml"))
    assert res.returncode == 0
    recipe = load_run_recipe(tmp_path / "r.toml")
    assert {b["format"] for b in recipe.builds} == {"gptq", "awq", "gguf", "onnx"} and recipe.gates["max_kld"] > 0
    _assert_one_line_error(kizami("init", str(tmp_path / "r.toml")), "already exists")


def test_quantize_report_and_bundle_refuse_bad_input(tmp_path: Path) -> None:
    _assert_one_line_error(kizami("quantize", "gptq", "tiny-fcj", "-o", str(tmp_path / "q"), "--group-size", "96"),
                           "group size 96 is not one of")
    _assert_one_line_error(kizami("quantize", "awq", "tiny-fcj", "-o", str(tmp_path / "q"), "--bits", "3"),
                           "bits must be 4 or 8")
    _assert_one_line_error(kizami("quantize", "gptq", "tiny-fcj", "-o", str(tmp_path / "q"), "--calib", "nope.txt"),
                           "not `default`, a calibration build folder or a recipe .toml")
    assert not (tmp_path / "q").exists()
    _assert_one_line_error(kizami("report", str(tmp_path)), "no results.json")
    (tmp_path / "results.json").write_text("[1]")
    _assert_one_line_error(kizami("report", str(tmp_path)), "not a kizami results file")
    _assert_one_line_error(kizami("bundle", str(tmp_path / "none"), "-o", str(tmp_path / "b")), "not a kizami build")
    assert not (tmp_path / "b").exists()
