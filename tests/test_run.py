"""`kizami run` end to end on the stand-in, as a user runs it: a real subprocess, killed mid-build and resumed,
gates that fail with their exit code, and the HTML report rendered by a real headless Chromium."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kizami.core import manifest
from tests.engines import require, require_tool

require("llama_cpp")
require("onnxruntime_genai")

RECIPE = """
name = "e2e"
model = "tiny-fcj"
out = "{out}"

[calib]
samples = 16
seq_len = 256
fim_per_language = 3

[[build]]
format = "onnx"
precisions = ["int4"]

[[build]]
format = "gguf"
name = "gguf"
types = ["q8_0"]
imatrix = "calib"
imatrix_chunks = 8
imatrix_ctx = 256

[eval]
ctx = 256
stride = 128
threads = 2
max_tokens_per_domain = 1500
metrics = ["quality", "fim", "speed", "size", "parity", "humaneval"]
problems_limit = 4
humaneval_max_new_tokens = 48

[gates]
max_kld = {max_kld}

[bundle]
license = "apache-2.0"
base_model = "kizami/tiny-fcj"
"""


def _kizami(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200"}
    # its own session, so a kill reaches the engines it started too (as when a machine goes down)
    return subprocess.Popen([sys.executable, "-m", "kizami", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _recipe(tmp: Path, max_kld: float) -> Path:
    path = tmp / "recipe.toml"
    path.write_text(RECIPE.format(out=tmp / "run", max_kld=max_kld))
    return path


def _staging(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob(".kizami-staging-*"))


# Where the run is interrupted, in order: (signal, how the test sees the run is there, the step it is in).
KILLS = [
    (signal.SIGKILL, lambda run, out: "calibration set" in out, "calibration set"),
    (signal.SIGINT, lambda run, out: _staging(run / "builds"), "building onnx-int4-cpu"),  # builder child
    (signal.SIGKILL, lambda run, out: _staging(run / "builds" / "gguf"), "building gguf"),
    (signal.SIGINT, lambda run, out: "evaluating onnx-int4-cpu" in out, "evaluating onnx-int4-cpu"),
    (signal.SIGKILL, lambda run, out: "evaluating gguf-q8_0" in out, "evaluating gguf-q8_0"),
]


def _interrupt(recipe: Path, cwd: Path, sig: signal.Signals, when) -> tuple[int, str]:
    """Start `kizami run`, send ``sig`` to its process group once ``when(run_dir, output)`` holds."""
    proc = _kizami("run", str(recipe), cwd=cwd)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 600
    while not when(cwd / "run", "".join(lines)):
        assert proc.poll() is None, f"the run ended before the kill point:\n{''.join(lines)}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, sig)
    code = proc.wait(timeout=300)
    reader.join(timeout=10)
    return code, "".join(lines)


def _nothing_half_written_is_visible(run: Path) -> None:
    """Every folder that looks finished (has a manifest) verifies; cached results are whole JSON."""
    for m in run.rglob(manifest.MANIFEST_NAME):
        if ".kizami-staging-" not in str(m):
            assert manifest.verify(m.parent) == [], m.parent
    for r in (run / "results").glob("*.json"):
        json.loads(r.read_text())


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run is killed at five points (SIGKILL and Ctrl-C's SIGINT), a finished build is damaged, and the last
    re-run must still complete, reuse only what verifies and leave no staging folder behind."""
    tmp = tmp_path_factory.mktemp("e2e")
    recipe = _recipe(tmp, max_kld=0.5)
    run = tmp / "run"
    calib_done = None
    for sig, when, step in KILLS:
        code, out = _interrupt(recipe, tmp, sig, when)
        _nothing_half_written_is_visible(run)
        if sig == signal.SIGINT:  # Ctrl-C: cleaned up, says where it stopped and how to resume
            assert code == 130, out
            text = " ".join(out.split())
            assert f"interrupted while {step}; nothing half-written was kept" in text, text[-600:]
            assert f"Resume with `kizami run {recipe}`" in text, text[-600:]
            assert not list(run.rglob(".kizami-staging-*")), step
        else:
            assert code == -signal.SIGKILL
        if calib_done is None and (run / "calib" / manifest.MANIFEST_NAME).is_file():
            calib_done = (run / "calib" / manifest.MANIFEST_NAME).stat().st_mtime_ns
    assert calib_done is not None
    # damage a finished build behind kizami's back: the re-run must notice and redo it, never use it
    q8 = next((run / "builds" / "gguf" / "Q8_0").glob("*.gguf"))  # the table's `name = "gguf"`
    with open(q8, "r+b") as fh:
        fh.seek(q8.stat().st_size // 2)
        fh.write(b"\xff" * 64)
    proc = _kizami("run", str(recipe), cwd=tmp)
    out, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, out
    assert (run / "calib" / manifest.MANIFEST_NAME).stat().st_mtime_ns == calib_done  # reused, not rebuilt
    assert manifest.verify(q8.parent) == []  # redone
    assert not list(run.rglob(".kizami-staging-*")) and not (run / "results" / "journal").exists()
    return tmp


def test_resumed_run_measures_every_build(finished_run: Path) -> None:
    summary = json.loads((finished_run / "run" / "results.json").read_text())
    results = summary["results"]
    assert set(results) == {"bf16", "onnx-int4-cpu", "gguf-f16", "gguf-q8_0"}
    assert not summary["failures"]
    for name in ("onnx-int4-cpu", "gguf-q8_0"):
        assert manifest.verify(Path(results[name]["build"])) == []
        assert results[name]["gates"]["pass"], results[name]["gates"]
    assert results["gguf-f16"]["quality"]["kld"]["all"]["mean"] < results["gguf-q8_0"]["quality"]["kld"]["all"]["mean"]
    # HumanEval through every engine: four problems generated, run in the sandbox, compared with bf16 task by task
    for name, r in results.items():
        he = r["humaneval"]
        assert [t["task_id"] for t in he["per_task"]] == [f"HumanEval/{i}" for i in range(4)], name
        assert sum(he["outcomes"].values()) == 4 and 0.0 <= he["pass@1"] <= 1.0
        if name != "bf16":
            assert 0.0 <= he["agreement"] <= 1.0



def test_a_failing_gate_sets_the_exit_code_and_shows_in_the_report(finished_run: Path) -> None:
    recipe = _recipe(finished_run, max_kld=1e-9)  # every quantized build is further than this from bf16
    proc = _kizami("run", str(recipe), cwd=finished_run)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 3, out
    assert "gates failed" in out
    md = (finished_run / "run" / "report.md").read_text()
    assert "## Gate failures" in md and "gguf-q8_0" in md.split("## Gate failures")[1]
    # restore the passing report for the rendering test
    proc = _kizami("run", str(_recipe(finished_run, max_kld=0.5)), cwd=finished_run)
    assert proc.wait(timeout=600) == 0


class _DomSummary(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.points: list[str] = []
        self.front: list[str] = []
        self.bars = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "tr" and "data-build" in a:
            self.rows.append(a["data-build"] or "")
        if tag == "circle" and "build" in classes:
            self.points.append(a.get("data-build") or "")
            if "front" in classes:
                self.front.append(a.get("data-build") or "")
        if tag == "rect" and "bar" in classes:
            self.bars += 1


def test_html_report_renders_in_headless_chromium(finished_run: Path, tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    report = finished_run / "run" / "report.html"
    proc = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}",
                           "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _DomSummary()
    dom.feed(proc.stdout)
    assert dom.rows == ["bf16", "onnx-int4-cpu", "gguf-f16", "gguf-q8_0"]
    assert sorted(dom.points) == ["gguf-f16", "gguf-q8_0", "onnx-int4-cpu"]  # bf16 is the origin, not a point
    assert "gguf-f16" in dom.front or "onnx-int4-cpu" in dom.front
    assert dom.bars == 3 * 3  # three builds x three domains
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}",
                    "--window-size=1300,1400", f"--screenshot={shot}", report.as_uri()], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_bundles_verify_load_and_carry_a_model_card(finished_run: Path, tmp_path: Path) -> None:
    from kizami.runtime import open_build

    summary = json.loads((finished_run / "run" / "results.json").read_text())
    bundles = finished_run / "run" / "bundles"
    assert sorted(p.name for p in bundles.iterdir()) == ["gguf-f16", "gguf-q8_0", "onnx-int4-cpu"]
    q8 = bundles / "gguf-q8_0"
    assert manifest.verify(q8) == []
    card = (q8 / "README.md").read_text()
    front = card.split("---")[1]
    assert 'license: "apache-2.0"' in front and 'base_model: "kizami/tiny-fcj"' in front
    assert 'base_model_relation: "quantized"' in front
    kld = summary["results"]["gguf-q8_0"]["quality"]["kld"]["all"]["mean"]
    assert f"{kld:.5f}" in card and "| bf16 (reference) |" in card and "llama-server -m" in card
    assert "<|start_header_id|>user<|end_header_id|>" in card  # the prompt format, rendered in the sandbox
    # the bundle is a build: it loads, and scores exactly as the build it came from
    ids = list(range(10, 60))
    a = open_build(q8, threads=2).score(ids)
    b = open_build(Path(summary["results"]["gguf-q8_0"]["build"]), threads=2).score(ids)
    assert (a.target == b.target).all()
    # shipped as a tarball and unpacked elsewhere, it is still the same build
    packed = _kizami("bundle", str(summary["results"]["gguf-q8_0"]["build"]), "-o", str(tmp_path / "ship"), "--tar",
                     cwd=tmp_path)
    assert packed.wait(timeout=120) == 0, packed.stdout.read()
    unpacked = _kizami("unpack", str(tmp_path / "ship.tar.gz"), "-o", str(tmp_path / "there"), cwd=tmp_path)
    assert unpacked.wait(timeout=120) == 0, unpacked.stdout.read()
    assert (open_build(tmp_path / "there", threads=2).score(ids).target == b.target).all()
    (q8 / "README.md").write_text(card + "tampered")
    assert [p.file for p in manifest.verify(q8)] == ["README.md"]


_RENDER = """
import json, sys
from kizami.run.report_html import html_report
from kizami.run.report_text import markdown_report
from kizami.run.summary import RunSummary
summary = RunSummary.from_dict(json.loads(open(sys.argv[1], encoding="utf-8").read()))
assert "bf16" in markdown_report(summary) and "<html" in html_report(summary)
print(json.dumps(sorted(sys.modules)))
"""


def test_rendering_a_report_from_results_json_imports_no_converter(finished_run: Path) -> None:
    """The reports read tables (GGUF types, layer kinds) from kizami.core.constants, never from a converter."""
    proc = subprocess.run([sys.executable, "-c", _RENDER, str(finished_run / "run" / "results.json")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "kizami.run.report_html" in loaded
    reached = [m for m in loaded if m.startswith(("kizami.export", "kizami.quantize", "kizami.builders", "gptqmodel"))]
    assert not reached, reached


def test_a_second_run_into_the_same_folder_refuses(finished_run: Path) -> None:
    import fcntl

    before = (finished_run / "run" / "results.json").read_bytes()
    with open(finished_run / "run" / ".kizami-run.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a run in progress holds it
        held.truncate(0)
        held.write("4242")
        held.flush()
        proc = _kizami("run", str(_recipe(finished_run, max_kld=0.5)), cwd=finished_run)
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out
    assert "another kizami run (pid 4242) is writing" in " ".join(out.split())
    assert (finished_run / "run" / "results.json").read_bytes() == before


def _step(kind: str, name: str, needs: tuple[str, ...], fn):
    from kizami.run.plan import Kind, Step

    return Step(kind=Kind(kind), name=name, needs=needs, fn=fn, cpus=1, gpus=0, memory=0, wall_s=0)


def test_the_failure_policy_stops_a_run_that_cannot_go_on_with_one_line(tmp_path: Path, caplog) -> None:
    """The plan's policy as the serial executor applies it (tests/test_ray.py compares a recorded failure on both
    executors): a failed calibration set, or any failure under fail_fast, stops the run naming the step; a bug's
    traceback is logged; what a failed step's dependents would have done is never run."""
    from kizami.core.errors import KizamiError
    from kizami.run.pipeline import run_serial
    from kizami.run.plan import Job, Plan

    ran: list[str] = []

    def ok(job, got, io):
        ran.append("ok")
        return tmp_path

    def bug(job, got, io):
        return 1 / 0

    job = Job(recipe=None, model=tmp_path, out=tmp_path)  # type: ignore[arg-type]  (the steps read none of it)
    evaluate = _step("evaluate", "x", ("build x",), ok)
    calibration_bug = Plan(job=job, steps=(_step("calibration", "", (), bug), _step("build", "x", ("calibration",), ok)))
    with pytest.raises(KizamiError, match=r"^step 'calibration' failed: ZeroDivisionError: division by zero$"):
        run_serial(calibration_bug, progress=lambda *_: None, status=lambda _m: None, fail_fast=False)
    assert not ran and "ZeroDivisionError" in caplog.text and "Traceback" in caplog.text

    def refused(job, got, io):
        raise KizamiError("no room; free some disk")

    build_fails = Plan(job=job, steps=(_step("calibration", "", (), ok), _step("build", "x", ("calibration",), refused),
                                       evaluate))
    with pytest.raises(KizamiError, match=r"^step 'build x' failed: no room; free some disk$"):
        run_serial(build_fails, progress=lambda *_: None, status=lambda _m: None, fail_fast=True)
    assert ran == ["ok"]  # the calibration; not the evaluation of the build that failed
