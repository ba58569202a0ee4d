"""AWQ builds, the building side (gptqmodel, GEMM layout): activation-aware scales searched on the calibration set."""

from __future__ import annotations

from typing import ClassVar

from kizami.builders.gptq import QuantizedBuilder
from kizami.quantize.awq import AWQConfig

__all__ = ["AWQ"]


class AWQBuilder(QuantizedBuilder):
    name: ClassVar[str] = "awq"
    config: ClassVar[type] = AWQConfig


AWQ = AWQBuilder()
