"""HF checkpoint → ONNX with onnxruntime-genai's model builder: fp32, int8 or int4 (MatMulNBits) for CPU or CUDA.

The builder runs in a child process (it imports torch, transformers and onnx-ir, and its failures are process exits);
its output lands in a staging folder, so a failed build leaves nothing behind. The result is a kizami build folder:
``model.onnx`` + ``model.onnx.data`` + ``genai_config.json`` + the tokenizer files + ``kizami.json``.
A re-run skips a folder whose manifest verifies and whose parameters match.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from kizami import manifest
from kizami.checkpoint import check_hf_dir, count_parameters, read_config
from kizami.engine import run_engine
from kizami.errors import BackendUnavailable, KizamiError
from kizami.hf_folder import finish_hf_folder

__all__ = ["PRECISIONS", "TARGETS", "WORKING_PAIRS", "ONNXConfig", "export_onnx"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "int8", "int4", "fp16")
TARGETS = ("cpu", "cuda")
# fp16 on cpu builds but fails at decode (onnxruntime-genai 0.18), so it is refused up front.
WORKING_PAIRS = (("fp32", "cpu"), ("int8", "cpu"), ("int4", "cpu"),
                 ("fp32", "cuda"), ("fp16", "cuda"), ("int8", "cuda"), ("int4", "cuda"))
BLOCK_SIZES = (16, 32, 64, 128, 256)
# Bits per weight of the MatMul weights, for the free-space check (int: weights + one fp scale per block).
_BITS = {"fp32": 32, "fp16": 16, "int8": 9, "int4": 5}

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ONNXConfig:
    precision: str = "int4"
    target: str = "cpu"
    accuracy_level: int | None = None  # MatMulNBits activation precision; None: 4 (int8) on cpu, 0 (kernel's choice) on cuda
    int4_block_size: int = 32  # block size of int4/int8 weight-only quantization (the builder's ``block_size``)
    from_build: str = ""  # a GPTQ/AWQ folder to build from instead of the source checkpoint
    version: int = 1

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise KizamiError(f"ONNX precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.target not in TARGETS:
            raise KizamiError(f"ONNX target {self.target!r} is not one of {', '.join(TARGETS)}")
        if (self.precision, self.target) not in WORKING_PAIRS:
            pairs = ", ".join(f"{p}+{t}" for p, t in WORKING_PAIRS)
            raise KizamiError(f"ONNX {self.precision} on {self.target} builds but fails at decode; use one of: {pairs}")
        if self.accuracy_level is None:
            object.__setattr__(self, "accuracy_level", 4 if self.target == "cpu" else 0)
        if self.accuracy_level not in range(5):
            raise KizamiError(f"accuracy_level must be 0-4 (4 = int8 activations, needed for fast int4/int8 on CPU), "
                              f"got {self.accuracy_level!r}")
        if self.int4_block_size not in BLOCK_SIZES:
            raise KizamiError(f"int4 block size must be one of {BLOCK_SIZES}, got {self.int4_block_size}")
        if self.from_build:
            _check_quantized_folder(Path(self.from_build))


def _check_quantized_folder(path: Path) -> None:
    config = path / "config.json"
    if not config.is_file():
        raise KizamiError(f"--from-build {path}: no config.json; give a GPTQ or AWQ build folder")
    if "quantization_config" not in read_config(path):
        raise KizamiError(f"--from-build {path}: config.json has no quantization_config; is it a GPTQ or AWQ build?")


def _builder_version() -> str:
    for dist in ("onnxruntime-genai", "onnxruntime-genai-cuda"):
        try:
            return f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    raise BackendUnavailable("the ONNX export needs onnxruntime-genai; run `bash scripts/setup.sh`")


def _builder_command(source: Path, stage: Path, cache: Path, cfg: ONNXConfig) -> list[str]:
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(source),
           "-o", str(stage), "-p", cfg.precision, "-e", cfg.target, "-c", str(cache)]
    extra = ["hf_token=false"]  # never look for (or send) a Hugging Face token
    if cfg.precision in ("int4", "int8"):
        extra += [f"accuracy_level={cfg.accuracy_level}", f"block_size={cfg.int4_block_size}"]
    return [*cmd, "--extra_options", *extra]


def _run_builder(cmd: list[str], tmp: Path) -> None:
    # Offline and with every cache in the temp dir: the builder calls from_pretrained, which may otherwise reach out.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp / "hf"),
           "TOKENIZERS_PARALLELISM": "false"}
    run_engine(cmd, "onnxruntime-genai's model builder", env=env, cwd=tmp)



def _need_bytes(model: Path, cfg: ONNXConfig) -> int:
    """Weights at the target precision; the embedding table stays at the I/O precision (fp32 on cpu, fp16 on cuda)."""
    conf = read_config(model)
    embed = int(conf.get("vocab_size", 0)) * int(conf.get("hidden_size", 0))
    io_bytes = 4 if cfg.target == "cpu" else 2
    body = max(count_parameters(model) - embed, 0)
    return int((body * _BITS[cfg.precision] / 8 + embed * io_bytes) * 1.1) + (64 << 20)


def export_onnx(model: Path, out: Path, cfg: ONNXConfig = ONNXConfig(), *,
                progress: Progress = lambda _msg: None) -> Path:
    """Build ``out`` (a kizami build folder) from the HF checkpoint ``model``; returns ``out``."""
    model, out = check_hf_dir(Path(model)), Path(out)
    source = manifest.checkpoint_digest(model)
    builder_input = Path(cfg.from_build).resolve() if cfg.from_build else model.resolve()
    params: dict[str, Any] = {"source_sha256": source["sha256"], "config": asdict(cfg), "builder": _builder_version()}
    if cfg.from_build:
        params["from_build_sha256"] = manifest.checkpoint_digest(builder_input)["sha256"]
    if manifest.is_current(out, params):
        progress(f"{out} is current; skipping")
        return out
    manifest.check_free_space(out.parent, _need_bytes(model, cfg), "the ONNX export")
    progress(f"building ONNX {cfg.precision} for {cfg.target}")
    m = manifest.Manifest(format="onnx", parameters=params, source=source)
    with manifest.staged_build(out, m, overwrite=True) as stage, tempfile.TemporaryDirectory(prefix="kizami-onnx-") as tmp:
        _run_builder(_builder_command(builder_input, stage, Path(tmp) / "cache", cfg), Path(tmp))
        finish_hf_folder(model, stage)
        if not (stage / "genai_config.json").is_file() or not any(stage.glob("*.onnx")):
            raise KizamiError("onnxruntime-genai's model builder finished without writing model.onnx and genai_config.json")
    return out
