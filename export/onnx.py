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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from kizami.core import manifest
from kizami.core.checkpoint import check_hf_dir, count_parameters, read_config
from kizami.core.engine import counted_lines, run_engine
from kizami.core.errors import BackendUnavailable, KizamiError, ManifestError
from kizami.core.hf_folder import finish_hf_folder
from kizami.core.progress import Progress, no_progress
from kizami.export.onnx_quant import LayerDiff, check_source, compare_layers, write_source_weights

__all__ = ["LM_HEADS", "PRECISIONS", "TARGETS", "WORKING_PAIRS", "ONNXConfig", "export_onnx"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "int8", "int4", "fp16")
TARGETS = ("cpu", "cuda")
# fp16 on cpu builds but fails at decode (onnxruntime-genai 0.18), so it is refused up front.
WORKING_PAIRS = (("fp32", "cpu"), ("int8", "cpu"), ("int4", "cpu"),
                 ("fp32", "cuda"), ("fp16", "cuda"), ("int8", "cuda"), ("int4", "cuda"))
BLOCK_SIZES = (16, 32, 64, 128, 256)
LM_HEADS = ("source", "int8", "int4")
_QUANTIZED = ("int4", "int8")
# Bits per weight of the MatMul weights, for the free-space check (int: weights + one fp scale per block).
_BITS = {"fp32": 32, "fp16": 16, "int8": 9, "int4": 5}

@dataclass(frozen=True, slots=True, kw_only=True)
class ONNXConfig:
    precision: str = "int4"
    target: str = "cpu"
    accuracy_level: int | None = None  # MatMulNBits activation precision; None: 4 (int8) on cpu, 0 (kernel's choice) on cuda
    int4_block_size: int = 32  # block size of int4/int8 weight-only quantization (the builder's ``block_size``)
    from_build: str = ""  # a GPTQ/AWQ folder to build from instead of the source checkpoint (its integers are kept exactly)
    # lm_head precision: "source" keeps it float (the source's weights, at the I/O precision); "int8"/"int4" let the
    # builder round it to nearest at int4_block_size. "" = "source" with from_build, else the build's precision.
    lm_head: str = ""
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
        if not self.lm_head:
            object.__setattr__(self, "lm_head", "source" if self.from_build or self.precision not in _QUANTIZED
                               else self.precision)
        if self.lm_head not in LM_HEADS:
            raise KizamiError(f"lm_head must be one of {', '.join(LM_HEADS)}, got {self.lm_head!r}")
        if self.lm_head != "source" and (self.precision not in _QUANTIZED or (self.lm_head, self.precision) == ("int4", "int8")):
            raise KizamiError(f"lm_head {self.lm_head} needs an int4 build (int8 builds: lm_head int8 or source), "
                              f"got precision {self.precision}")
        if self.from_build:
            _check_quantized_folder(Path(self.from_build), self.precision)


def _check_quantized_folder(path: Path, precision: str) -> None:
    """A GPTQ/AWQ folder whose bits and groups MatMulNBits represents exactly; else one error naming what it can."""
    check_source(path)
    if precision != "int4":
        raise KizamiError(f"--from-build takes the bits from the GPTQ/AWQ build; use precision int4 (the builder's "
                          f"quantized-input path), got {precision}")


def _builder_version() -> str:
    for dist in ("onnxruntime-genai", "onnxruntime-genai-cuda"):
        try:
            return f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    raise BackendUnavailable("the ONNX export needs onnxruntime-genai; run `bash scripts/setup.sh`")


def _builder_command(source: Path, stage: Path, cache: Path, cfg: ONNXConfig) -> list[str]:
    # The builder's own command line, run through kizami's wrapper that maps the weights and quantizes one MatMul at a
    # time (export/_onnx_stream.py): the same graph and bytes, with memory that does not grow with the model.
    cmd = [sys.executable, "-m", "kizami.export._onnx_stream", "-i", str(source),
           "-o", str(stage), "-p", cfg.precision, "-e", cfg.target, "-c", str(cache)]
    extra = ["hf_token=false"]  # never look for (or send) a Hugging Face token
    if cfg.precision in _QUANTIZED:
        extra += [f"accuracy_level={cfg.accuracy_level}", f"block_size={cfg.int4_block_size}"]
        if cfg.lm_head == "source":
            extra.append("nodes_to_exclude=/lm_head/MatMul")  # float MatMul with the source's weights
        elif cfg.lm_head != cfg.precision:
            extra.append(f"matmul_mixed_precision=last_matmul:{cfg.lm_head}")
    return [*cmd, "--extra_options", *extra]


def _run_builder(cmd: list[str], tmp: Path, say: Callable[[str], None] = lambda _msg: None, n_layers: int = 0) -> None:
    # Offline and with every cache in the temp dir: the builder calls from_pretrained, which may otherwise reach out.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp / "hf"),
           "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    # The builder prints "Reading layer i" as it reaches each decoder layer (i layers read before it); kizami's wrapper
    # then prints "Quantized k/n MatMul weights" after each weight.
    on_line = counted_lines(say, (r"^Reading layer (\d+)", "layers read", n_layers),
                            (r"^Quantized (\d+)/(\d+) MatMul", "weights quantized", 0))
    run_engine(cmd, "onnxruntime-genai's model builder", env=env, cwd=tmp, on_line=on_line)



def _carry_source_weights(stage: Path, source: Path, extra: dict[str, Any]) -> None:
    """Check every decoder MatMulNBits node against the GPTQ/AWQ layers it came from; where the builder's re-packing
    moved any weight, write the source's integers, scales and zero points in directly, then check again."""
    def check() -> list[LayerDiff]:
        diffs = [d for d in compare_layers(source, stage / "model.onnx") if isinstance(d, LayerDiff)]
        if not diffs:
            raise KizamiError(f"the ONNX build from {source} has no MatMulNBits node made from its layers; the builder "
                              "did not take the quantized input")
        return diffs

    diffs = check()
    moved = [d.node for d in diffs if d.mismatched]
    if moved:
        log.info("builder re-packing moved weights in %d of %d layers; writing the source's integers", len(moved), len(diffs))
        write_source_weights(stage, source)
        diffs = check()
        still = [d.node for d in diffs if d.mismatched]
        if still:
            raise KizamiError(f"ONNX layers {', '.join(still[:3])} still differ from {source} after re-writing them; "
                              "this is a kizami bug, please report it with the build's quantization_config")
    extra["from_build_check"] = {"layers": len(diffs), "rewritten_by_kizami": len(moved),
                                 "max_abs_weight_diff": max(d.max_abs for d in diffs),
                                 "block_sizes": sorted({d.block_size for d in diffs})}


def _need_bytes(model: Path, cfg: ONNXConfig) -> int:
    """Weights at the target precision; the embedding table stays at the I/O precision (fp32 on cpu, fp16 on cuda)."""
    conf = read_config(model)
    embed = int(conf.get("vocab_size", 0)) * int(conf.get("hidden_size", 0))
    io_bytes = 4 if cfg.target == "cpu" else 2
    body = max(count_parameters(model) - embed, 0)
    return int((body * _BITS[cfg.precision] / 8 + embed * io_bytes) * 1.1) + (64 << 20)


def _learned_from(build: Path) -> dict[str, Any] | None:
    """The calibration set a GPTQ/AWQ build's integers were learned from, as its manifest records it: the ONNX build
    carries them unchanged, so it carries their provenance too (None for a GPTQ/AWQ folder kizami did not make)."""
    try:
        return dict(manifest.load(build).calibration or {}) or None
    except ManifestError:
        return None


def export_onnx(model: Path, out: Path, cfg: ONNXConfig = ONNXConfig(), *,
                progress: Progress = no_progress) -> Path:
    """Build ``out`` (a kizami build folder) from the HF checkpoint ``model``; returns ``out``. ``progress(message,
    stages done, stages)``: the build, then (from a GPTQ/AWQ build) the check of its layers."""
    model, out = check_hf_dir(Path(model)), Path(out).resolve()  # absolute: the builder runs in a temp folder
    source = manifest.checkpoint_digest(model)
    builder_input = Path(cfg.from_build).resolve() if cfg.from_build else model.resolve()
    params: dict[str, Any] = {"source_sha256": source["sha256"], "config": asdict(cfg), "builder": _builder_version()}
    calibration = None
    if cfg.from_build:
        params["from_build_sha256"] = manifest.checkpoint_digest(builder_input)["sha256"]
        calibration = _learned_from(builder_input)
    stages = 2 if cfg.from_build else 1

    def say(message: str, done: int = 0) -> None:
        progress(message, done, stages)

    if manifest.is_current(out, params):
        say(f"{out} is current; skipping", stages)
        return out
    manifest.check_free_space(out.parent, _need_bytes(model, cfg), "the ONNX export")
    say(f"building ONNX {cfg.precision} for {cfg.target}")
    extra: dict[str, Any] = {}
    m = manifest.Manifest(format="onnx", parameters=params, source=source, calibration=calibration, extra=extra)
    with manifest.staged_build(out, m, overwrite=True) as stage, manifest.scratch("onnx") as tmp:
        _run_builder(_builder_command(builder_input, stage, Path(tmp) / "cache", cfg), Path(tmp), say,
                     int(read_config(model).get("num_hidden_layers") or 0))
        finish_hf_folder(model, stage)
        if not (stage / "genai_config.json").is_file() or not any(stage.glob("*.onnx")):
            raise KizamiError("onnxruntime-genai's model builder finished without writing model.onnx and genai_config.json")
        if cfg.from_build:
            say("checking the ONNX layers against the GPTQ/AWQ build", 1)
            _carry_source_weights(stage, builder_input, extra)
    say("done", stages)
    return out
