"""The bad-input catalogue: every command fed broken, truncated, tampered or mistaken input.

Each case sets up a workspace, runs the `kizami` entry point on it, and asserts: exit status 1, one line on stderr
that starts with ``error:`` and names the problem (and, where there is one, the fix), no traceback, and the workspace
exactly as it was (nothing created, nothing half-written). ``python tests/test_bad_input.py`` prints the catalogue
as the Markdown table in docs/hardening.md, with the messages kizami prints today.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import struct
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kizami.core import manifest
from kizami.standin import standin_path


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path], list[str]]  # makes the inputs in a workspace, returns the command's arguments
    expect: tuple[str, ...]  # fragments the error line must contain


# ---------------------------------------------------------------------------------------------------------------- inputs

def _model(w: Path, config: dict | None = None, *, drop: tuple[str, ...] = (), template: str | None = None) -> str:
    """A copy of the stand-in checkpoint, optionally edited."""
    model = w / "model"
    shutil.copytree(standin_path(), model)
    if config is not None:
        cfg = json.loads((model / "config.json").read_text())
        (model / "config.json").write_text(json.dumps({**cfg, **config}))
    for name in drop:
        (model / name).unlink()
    if template is not None:
        tok = json.loads((model / "tokenizer_config.json").read_text())
        (model / "tokenizer_config.json").write_text(json.dumps({**tok, "chat_template": template}))
    return "model"


def _retyped_weights(w: Path) -> str:
    """Same checkpoint, one tensor's dtype in the safetensors header changed from F32 to I32 (same byte size)."""
    name = _model(w)
    path = w / name / "model.safetensors"
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    key = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] in ("F32", "BF16", "F16"))
    header[key]["dtype"] = {"F32": "I32", "BF16": "I16", "F16": "I16"}[header[key]["dtype"]]
    blob = json.dumps(header, separators=(",", ":")).encode()
    assert len(blob) <= n
    blob = blob.ljust(n)
    path.write_bytes(data[:8] + blob + data[8 + n:])
    return name


def _truncated_weights(w: Path) -> str:
    name = _model(w)
    path = w / name / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return name


def _build(w: Path, fmt: str, files: dict[str, bytes], name: str = "build") -> str:
    """A build folder whose manifest matches its (possibly garbage) files: what a tampered-and-re-signed build is."""
    with manifest.staged_build(w / name, manifest.Manifest(format=fmt)) as stage:
        for rel, data in files.items():
            (stage / rel).write_bytes(data)
    return name


def _tampered_build(w: Path) -> str:
    name = _build(w, "gguf", {"model.gguf": b"GGUF" + b"\x00" * 60})
    (w / name / "model.gguf").write_bytes(b"GGUF" + b"\x01" * 60)
    return name


def _eval_set(w: Path) -> str:
    (w / "data" / "eval").mkdir(parents=True)
    (w / "data" / "eval" / "ppl.jsonl").write_text(json.dumps({"domain": "code", "text": "print(1)"}) + "\n")
    return "data"


def _file(w: Path, name: str, text: str | bytes) -> str:
    (w / name).parent.mkdir(parents=True, exist_ok=True)
    (w / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return name


_RECIPE = 'name = "x"\nmodel = "tiny-fcj"\nout = "runs/x"\n'
_MIX = '[[source]]\nname = "c"\ndomain = "code"\nlanguage = "python"\nshare = 1.0\npath = "{path}"\n'


def _bundle_tar(w: Path, add: Callable[[tarfile.TarFile], None] | None = None, *, alter: bool = False,
                manifest_too: bool = True) -> str:
    """A bundle tarball (one top folder, kizami.json, a weight file), then tampered with."""
    folder = w / "src" / "bundle"
    folder.parent.mkdir()
    _build(w / "src", "gguf", {"model.gguf": b"GGUF" + b"\x00" * 60}, name="bundle")
    if alter:
        (folder / "model.gguf").write_bytes(b"GGUF" + b"\x66" * 60)
    if not manifest_too:
        (folder / manifest.MANIFEST_NAME).unlink()
    with tarfile.open(w / "bundle.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="bundle")
        if add:
            add(tar)
    shutil.rmtree(w / "src")
    return "bundle.tar.gz"


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"x") -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return add


def _run_with_fim(w: Path, fim: str) -> list[str]:
    _file(w, "r.toml", _RECIPE + '[eval]\nfim_file = "tasks.jsonl"\n[[build]]\nformat = "gguf"\nimatrix = "none"\n')
    if fim:
        _file(w, "tasks.jsonl", fim)
    return ["run", "r.toml"]


def _eval_fim(w: Path, fim: str | bytes | None) -> list[str]:
    build = _model(w)
    if fim is not None:
        _file(w, "tasks.jsonl", fim)
    return ["eval", build, "--ref", build, "--data", _eval_set(w), "--fim-file", "tasks.jsonl"]


_TASK = {"name": "t", "language": "python", "prompt": "def f():\n", "suffix": "\n", "canonical_solution": "  pass"}

# ----------------------------------------------------------------------------------------------------------------- cases

CASES = [
    # verify: manifests from outside
    Case("verify: folder without a manifest", lambda w: ["verify", "."], ("no kizami.json", "not a kizami build")),
    Case("verify: manifest is not JSON", lambda w: ["verify", _file(w, "b/kizami.json", "{broken") and "b"],
         ("not valid JSON", "rebuild it")),
    Case("verify: manifest from a newer kizami", lambda w: ["verify", _file(w, "b/kizami.json", json.dumps(
        {"schema": 99, "format": "gguf", "files": {}})) and "b"], ("unsupported schema 99", "upgrade kizami")),
    Case("verify: manifest lists a file outside the build", lambda w: ["verify", _file(w, "b/kizami.json", json.dumps(
        {"schema": 1, "format": "gguf", "files": {"../../etc/passwd": {"size": 1, "sha256": "0"}}})) and "b"],
         ("'../../etc/passwd'", "relative path inside the build")),
    # calibration recipes and sources
    Case("calib build: recipe file missing", lambda w: ["calib", "build", "-o", "c", "--recipe", "mix.toml"],
         ("mix.toml not found", "'default' or a .toml")),
    Case("calib build: recipe is not TOML", lambda w: ["calib", "build", "-o", "c", "--recipe",
                                                      _file(w, "mix.toml", "[[source]\nname=")], ("not valid TOML",)),
    Case("calib build: recipe has an unknown key", lambda w: ["calib", "build", "-o", "c", "--recipe",
                                                             _file(w, "mix.toml", "colour = 1\n")],
         ("unknown key(s) ['colour']", "allowed")),
    Case("calib build: source share is negative", lambda w: ["calib", "build", "-o", "c", "--recipe", _file(
        w, "mix.toml", _MIX.format(path="code").replace("1.0", "-1"))], ("share must be a positive number",)),
    Case("calib build: source folder missing", lambda w: ["calib", "build", "-o", "c", "--recipe", _file(
        w, "mix.toml", _MIX.format(path="nowhere"))], ("nowhere does not exist",)),
    Case("calib build: source JSONL has a broken line", lambda w: ["calib", "build", "-o", "c", "--recipe", _file(
        w, "mix.toml", _MIX.format(path="docs.jsonl")) and _file(w, "docs.jsonl", '{"text": "a"}\n{oops\n') and "mix.toml"],
         ("docs.jsonl:2: not valid JSON",)),
    Case("calib build: tokenizer folder has no tokenizer", lambda w: ["calib", "build", "-o", "c", "--tokenizer",
                                                                     _model(w, drop=("tokenizer.json", "tokenizer_config.json"))],
         ("has no tokenizer",)),
    Case("calib build: zero samples", lambda w: ["calib", "build", "-o", "c", "--samples", "0"],
         ("need at least 1 sample",)),
    Case("calib show: a model build, not a calibration set", lambda w: ["calib", "show", _build(w, "gguf", {"m.gguf": b"GGUF"})],
         ("is a gguf build, not a calibration set",)),
    # source checkpoints (every converter opens them the same way; export gguf fails fastest)
    Case("checkpoint: folder missing", lambda w: ["export", "gguf", "model", "-o", "g"],
         ("model does not exist", "local Hugging Face checkpoint folder")),
    Case("checkpoint: empty folder", lambda w: ["export", "gguf", (w / "model").mkdir() or "model", "-o", "g"],
         ("no config.json",)),
    Case("checkpoint: config.json is not JSON", lambda w: ["export", "gguf", _model(w) and _file(
        w, "model/config.json", "{") and "model", "-o", "g"], ("config.json is unreadable", "damaged")),
    Case("checkpoint: not a Llama-family model", lambda w: ["export", "gguf", _model(w, {"model_type": "bert"}), "-o", "g"],
         ("model_type 'bert' is not supported",)),
    Case("checkpoint: pickle weights only", lambda w: ["export", "gguf", _model(w, drop=("model.safetensors",)) and _file(
        w, "model/pytorch_model.bin", b"\x80\x04") and "model", "-o", "g"], ("only pickle weights", "safetensors")),
    Case("checkpoint: weights truncated", lambda w: ["export", "gguf", _truncated_weights(w), "-o", "g"],
         ("truncated", "download or convert it again")),
    Case("checkpoint: integer dtype in an unquantized model", lambda w: ["export", "gguf", _retyped_weights(w), "-o", "g"],
         ("not F16/BF16/F32",)),
    Case("checkpoint: weights and config.json of different models", lambda w: ["quantize", "gptq", _model(
        w, {"vocab_size": 32000}), "-o", "q"], ("config.json says vocab_size x hidden_size", "different models")),
    Case("checkpoint: chat template escapes the sandbox", lambda w: ["export", "onnx", _model(
        w, template="{{ messages.__class__.__mro__[1].__subclasses__() }}"), "-o", "o"],
         ("chat template tries an unsafe operation", "fix chat_template")),
    # converters' options
    Case("export gguf: unknown quantization type", lambda w: ["export", "gguf", "tiny-fcj", "-o", "g", "--types", "q4_k_x"],
         ("unknown GGUF type(s) ['q4_k_x']", "q4_k_m")),
    Case("export gguf: split size unreadable", lambda w: ["export", "gguf", "tiny-fcj", "-o", "g", "--split-max-size", "lots"],
         ("must look like 500M or 2G",)),
    Case("export gguf: imatrix file missing", lambda w: ["export", "gguf", "tiny-fcj", "-o", "g", "--imatrix", "im.gguf"],
         ("--imatrix im.gguf: file not found",)),
    Case("export gguf: budget below every candidate", lambda w: ["export", "gguf", "tiny-fcj", "-o", "g", "--budget", "1.5"],
         ("budget 1.5 bits per weight is outside what the candidates can reach", "2.625 with all q2_k")),
    Case("export gguf: budget and fixed types", lambda w: ["export", "gguf", "tiny-fcj", "-o", "g", "--budget", "4.5",
                                                           "--types", "q4_k_m"], ("chooses its own tensor types; drop `types`",)),
    Case("export gguf: budget that is not a number", lambda w: ["export", "gguf", "tiny-fcj", "-o", "g", "--budget", "small"],
         ("is not a comma-separated list of numbers",)),
    Case("export gguf: tensor pattern that matches nothing", lambda w: ["export", "gguf", "tiny-fcj", "-o", "g",
                                                                        "--tensor-type", "attn_qkv=q6_k"],
         ("'attn_qkv=q6_k' matches no tensor of this model",)),
    Case("quantize gptq: budget and fixed bits", lambda w: ["quantize", "gptq", "tiny-fcj", "-o", "q", "--budget", "3.5",
                                                            "--bits", "4"], ("chooses each layer's bits; drop --bits",)),
    Case("quantize gptq: budget above every candidate", lambda w: ["quantize", "gptq", "tiny-fcj", "-o", "q", "--budget", "12"],
         ("budget 12 bits per weight is outside",)),
    Case("export onnx: unknown precision", lambda w: ["export", "onnx", "tiny-fcj", "-o", "o", "--precision", "int3"],
         ("ONNX precision 'int3' is not one of",)),
    Case("export onnx: precision that fails at decode", lambda w: ["export", "onnx", "tiny-fcj", "-o", "o",
                                                                  "--precision", "fp16", "--target", "cpu"],
         ("fp16 on cpu builds but fails at decode", "use one of")),
    Case("export onnx: --from-build is not GPTQ/AWQ", lambda w: ["export", "onnx", "tiny-fcj", "-o", "o", "--from-build",
                                                                _build(w, "gguf", {"m.gguf": b"GGUF"})],
         ("no config.json; give a GPTQ or AWQ build folder",)),
    Case("quantize gptq: group size that is not offered", lambda w: ["quantize", "gptq", "tiny-fcj", "-o", "q",
                                                                     "--group-size", "96"], ("group size 96 is not one of",)),
    Case("quantize awq: 3 bits", lambda w: ["quantize", "awq", "tiny-fcj", "-o", "q", "--bits", "3"],
         ("bits must be 4 or 8",)),
    Case("quantize gptq: --calib is neither a set nor a recipe", lambda w: ["quantize", "gptq", "tiny-fcj", "-o", "q",
                                                                           "--calib", "notes.txt"],
         ("not `default`, a calibration build folder or a mixture recipe .toml",)),
    # evaluation inputs: builds, evaluation sets, FIM task files
    Case("eval: unknown task", lambda w: ["eval", "tiny-fcj", "--data", "d", "--tasks", "ppl,bleu"],
         ("unknown task 'bleu'", "Available: fim, humaneval")),
    Case("eval: stride not below ctx", lambda w: ["eval", "tiny-fcj", "--data", "d", "--ctx", "256", "--stride", "256"],
         ("stride must be between 1 and ctx-1",)),
    Case("eval: folder is not a build", lambda w: ["eval", _file(w, "x/notes.txt", "hi") and "x", "--data", "d"],
         ("neither a kizami build (kizami.json) nor a Hugging Face checkpoint",)),
    Case("eval: build's files differ from its manifest", lambda w: ["eval", _tampered_build(w), "--data", "d"],
         ("does not match its manifest (model.gguf: sha256)", "kizami verify")),
    Case("eval: GGUF build holds no GGUF", lambda w: ["eval", _build(w, "gguf", {"model.gguf": b"<html>404</html>"}),
                                                      "--data", "d"], ("not a GGUF file (bad magic)",)),
    Case("eval: ONNX build without genai_config.json", lambda w: ["eval", _build(w, "onnx", {"model.onnx": b"\x08\x07"}),
                                                                  "--data", "d"],
         ("has no genai_config.json", "kizami export onnx")),
    Case("eval: build names no source and no --ref", lambda w: ["eval", _build(w, "gguf", {"model.gguf": b"GGUF\x03\x00\x00\x00"
                                                                                          + b"\x00" * 16}), "--data", "d"],
         ("names no source checkpoint", "pass --ref")),
    Case("eval: --data is not an evaluation set", lambda w: ["eval", _model(w), "--ref", "model", "--data",
                                                             (w / "d").mkdir() or "d"], ("no eval/ppl.jsonl", "kizami calib build")),
    Case("eval: FIM task file missing", lambda w: _eval_fim(w, None), ("fim_file", "tasks.jsonl not found",)),
    Case("eval: FIM task lacks a field", lambda w: _eval_fim(w, json.dumps({**_TASK, "suffix": None})),
         ("tasks.jsonl:1: missing or non-string field(s) ['suffix']",)),
    Case("eval: FIM task file is empty", lambda w: _eval_fim(w, ""), ("no FIM tasks",)),
    Case("eval: FIM task file is not UTF-8", lambda w: _eval_fim(w, b"\xff\xfe{"), ("not UTF-8",)),
    # run recipes
    Case("run: recipe missing", lambda w: ["run", "r.toml"], ("recipe r.toml not found", "kizami init")),
    Case("run: unknown build format", lambda w: ["run", _file(w, "r.toml", _RECIPE + '[[build]]\nformat = "exl2"\n')],
         ("format 'exl2' is not one of awq, gguf, gptq, onnx",)),
    Case("run: GPTQ without a [calib] table", lambda w: ["run", _file(w, "r.toml", _RECIPE + '[[build]]\nformat = "gptq"\n')],
         ("(gptq) learns from calibration data; add a [calib] table",)),
    Case("run: misspelt option in a build", lambda w: ["run", _file(w, "r.toml", _RECIPE + '[calib]\n[[build]]\nformat = '
                                                                    '"gguf"\ntypes = ["q8_0"]\nimatirx = "none"\n')],
         ("(gguf): unknown key 'imatirx'; allowed: base", "imatrix")),
    Case("run: a value the format refuses", lambda w: ["run", _file(w, "r.toml", _RECIPE + '[calib]\n[[build]]\nformat = '
                                                                     '"gptq"\ngroup_size = 96\n')],
         ("build #1 (gptq): GPTQ group size 96 is not one of",)),
    Case("run: two builds of one name", lambda w: ["run", _file(w, "r.toml", _RECIPE + '[calib]\n[[build]]\nformat = '
                                                                 '"gptq"\n[[build]]\nformat = "gptq"\ndevice = "cuda"\n')],
         ("make a build named 'gptq-w4g128'", "name = ")),
    Case("run: gate that is not a number", lambda w: ["run", _file(w, "r.toml", _RECIPE + '[gates]\nmax_kld = "low"\n'
                                                                  '[[build]]\nformat = "gguf"\nimatrix = "none"\n')],
         ("[gates]: max_kld = 'low' must be a number",)),
    Case("run: FIM task file missing", lambda w: _run_with_fim(w, ""), ("fim_file", "tasks.jsonl not found")),
    Case("run: FIM task file row is not an object", lambda w: _run_with_fim(w, "[1, 2]\n"),
         ("tasks.jsonl:1: expected a JSON object",)),
    # reports and bundles
    Case("report: folder has no results", lambda w: ["report", "."], ("no results.json", "finished `kizami run`")),
    Case("report: results.json is not kizami's", lambda w: ["report", _file(w, "results.json", "[1]") and "."],
         ("not a kizami results file",)),
    Case("bundle: not a build", lambda w: ["bundle", "nothing", "-o", "b"], ("no kizami.json",)),
    Case("bundle: build does not verify", lambda w: ["bundle", _tampered_build(w), "-o", "b"],
         ("does not verify", "rebuild it")),
    Case("bundle: a calibration set", lambda w: ["bundle", _build(w, "calib", {"x.jsonl": b"{}"}), "-o", "b"],
         ("is a calibration set, not a model build",)),
    Case("bundle: --results is not JSON", lambda w: ["bundle", _build(w, "gguf", {"m.gguf": b"GGUF"}), "-o", "b",
                                                     "--results", _file(w, "r.json", "{")], ("cannot read it as JSON",)),
    Case("init: recipe already there", lambda w: ["init", _file(w, "kizami.toml", "")], ("already exists",)),
    # bundle tarballs from outside: nothing may be written before every entry is checked
    Case("unpack: entry with an absolute path", lambda w: ["unpack", _bundle_tar(w, _entry("/tmp/evil")), "-o", "u"],
         ("has an absolute path", "refused")),
    Case("unpack: entry climbing out with ..", lambda w: ["unpack", _bundle_tar(w, _entry("bundle/../../evil")), "-o", "u"],
         ("climbs out with '..'", "refused")),
    Case("unpack: symlink pointing outside", lambda w: ["unpack", _bundle_tar(w, _entry("bundle/x", tarfile.SYMTYPE,
                                                                                        "/etc/passwd")), "-o", "u"],
         ("is a link (to '/etc/passwd')",)),
    Case("unpack: hard link to a file outside", lambda w: ["unpack", _bundle_tar(w, _entry("bundle/x", tarfile.LNKTYPE,
                                                                                           "/etc/shadow")), "-o", "u"],
         ("is a link (to '/etc/shadow')",)),
    Case("unpack: device file", lambda w: ["unpack", _bundle_tar(w, _entry("bundle/sda", tarfile.BLKTYPE)), "-o", "u"],
         ("device, FIFO or other special file",)),
    Case("unpack: weights altered after bundling", lambda w: ["unpack", _bundle_tar(w, alter=True), "-o", "u"],
         ("model.gguf: sha256); it was altered", "nothing was unpacked")),
    Case("unpack: file slipped in", lambda w: ["unpack", _bundle_tar(w, _entry("bundle/run_me.sh", data=b"rm -rf ~")),
                                                "-o", "u"], ("run_me.sh: unlisted",)),
    Case("unpack: no manifest", lambda w: ["unpack", _bundle_tar(w, manifest_too=False), "-o", "u"],
         ("no bundle/kizami.json; not a kizami bundle",)),
    Case("unpack: two top folders", lambda w: ["unpack", _bundle_tar(w, _entry("other/readme.txt")), "-o", "u"],
         ("one top folder, this has 2",)),
    Case("unpack: not a tar archive", lambda w: ["unpack", _file(w, "b.tar.gz", "<html>404</html>"), "-o", "u"],
         ("is not a tar archive",)),
    Case("unpack: truncated download", lambda w: ["unpack", _bundle_tar(w) and _file(
        w, "cut.tar.gz", (w / "bundle.tar.gz").read_bytes()[:-30]), "-o", "u"], ("damaged or truncated",)),
]


# ---------------------------------------------------------------------------------------------------------------- runner

def invoke(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run the `kizami` entry point in this process: (exit status, stdout, stderr)."""
    from kizami.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = ["kizami", *argv]
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return code, out.getvalue(), err.getvalue()


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def check(case: Case, workspace: Path) -> str:
    """Run one case; return its error line, or raise AssertionError saying how the command misbehaved."""
    argv = case.setup(workspace)
    before = _snapshot(workspace)
    code, out, err = invoke(argv, workspace)
    lines = err.strip().splitlines()
    assert "Traceback" not in err + out, f"{case.name}: traceback\n{err}"
    assert code == 1, f"{case.name}: exit {code}, stderr:\n{err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{case.name}: not one error line:\n{err}"
    for fragment in case.expect:
        assert fragment in lines[0], f"{case.name}: {fragment!r} not in {lines[0]!r}"
    assert _snapshot(workspace) == before, f"{case.name}: left files behind: {set(_snapshot(workspace)) - set(before)}"
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


def test_catalogue_is_large_and_names_unique() -> None:
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)


def markdown() -> str:
    rows = ["| # | bad input | what kizami says (exit 1) |", "|---|---|---|"]
    for i, case in enumerate(CASES, 1):
        with tempfile.TemporaryDirectory() as tmp:
            message = check(case, Path(tmp))
        rows.append(f"| {i} | {case.name} | `` {message.replace('|', '/')} `` |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown())
