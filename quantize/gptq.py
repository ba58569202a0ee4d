"""GPTQ builds (gptqmodel 7.6.0): second-order weight rounding learned from the calibration set.

The folder loads in transformers (with optimum + gptqmodel), vLLM and GPTQModel. Scales and unquantized tensors are
fp16, the dtype the serving kernels expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from kizami.core.errors import KizamiError
from kizami.core.progress import Progress, no_progress
from kizami.quantize.common import QuantConfig, quantize_with_gptqmodel

__all__ = ["GPTQConfig", "quantize_gptq"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GPTQConfig(QuantConfig):
    desc_act: bool = False  # act-order: quantize columns by decreasing activation (vLLM's exllama path prefers False)
    damp_percent: float = 0.05  # Hessian dampening, raised automatically if the Hessian is not positive definite
    true_sequential: bool = True  # quantize attention, then MLP, each seeing the already quantized outputs

    method: ClassVar[str] = "gptq"
    bit_widths: ClassVar[tuple[int, ...]] = (2, 3, 4, 8)
    group_sizes: ClassVar[tuple[int, ...]] = (-1, 32, 64, 128, 256)

    def __post_init__(self) -> None:
        QuantConfig.__post_init__(self)
        if not 0 < self.damp_percent < 1:
            raise KizamiError(f"damp percent must be between 0 and 1, got {self.damp_percent}")

    def library_config(self) -> dict[str, Any]:
        # act_group_aware off: classic GPTQ numerics (gptqmodel's default reorder is its own variant)
        return {**QuantConfig.library_config(self), "desc_act": self.desc_act, "damp_percent": self.damp_percent,
                "true_sequential": self.true_sequential, "act_group_aware": False}


def quantize_gptq(model: Path, out: Path, cfg: GPTQConfig = GPTQConfig(), *, calib: Path, force: bool = False,
                  progress: Progress = no_progress) -> Path:
    return quantize_with_gptqmodel(model, out, cfg, calib=calib, force=force, progress=progress)
