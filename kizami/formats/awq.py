"""AWQ builds (gptqmodel, GEMM layout): activation-aware scales searched on the calibration set."""

from __future__ import annotations

from typing import ClassVar

from kizami.formats.gptq import QuantizedFormat
from kizami.quantize.awq import AWQConfig

__all__ = ["AWQ"]


class AWQFormat(QuantizedFormat):
    name: ClassVar[str] = "awq"
    config: ClassVar[type] = AWQConfig


AWQ = AWQFormat()
