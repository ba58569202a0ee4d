"""AWQ builds (gptqmodel, GEMM layout): activation-aware scales searched on the calibration set."""

from __future__ import annotations

from typing import ClassVar

from kizami.formats import converter_side
from kizami.formats.gptq import QuantizedFormat

__all__ = ["AWQ"]


class AWQFormat(QuantizedFormat):
    name: ClassVar[str] = "awq"
    config: ClassVar[type] = converter_side("kizami.quantize.awq:AWQConfig")


AWQ = AWQFormat()
