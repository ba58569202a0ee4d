"""AWQ builds (gptqmodel 7.6.0, GEMM layout): per-channel scales searched on the calibration set's activations.

Quantized with gptqmodel's pure-torch AWQ path on CPU and GPU alike (its CUDA kernel path needs a JIT build).
The folder loads in transformers (with gptqmodel), vLLM (4-bit) and GPTQModel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from kizami.core.errors import KizamiError
from kizami.core.progress import Progress, no_progress
from kizami.quantize.common import QuantConfig, quantize_with_gptqmodel

__all__ = ["AWQConfig", "quantize_awq"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AWQConfig(QuantConfig):
    sym: bool = False  # AWQ's usual zero-point layout

    method: ClassVar[str] = "awq"
    group_sizes: ClassVar[tuple[int, ...]] = (-1, 32, 64, 128)
    out_multiple: ClassVar[int] = 8

    def __post_init__(self) -> None:
        if self.budget or self.module_bits:
            raise KizamiError("AWQ builds hold one bit width (gptqmodel's AWQ kernels); for mixed precision use "
                              "GPTQ or GGUF with a budget")
        QuantConfig.__post_init__(self)


def quantize_awq(model: Path, out: Path, cfg: AWQConfig = AWQConfig(), *, calib: Path, force: bool = False,
                 progress: Progress = no_progress) -> Path:
    return quantize_with_gptqmodel(model, out, cfg, calib=calib, force=force, progress=progress)
