"""AWQ builds, the reading side: loaded as GPTQ builds are (transformers, vLLM), GEMM layout. Made by
``kizami.builders.awq``."""

from __future__ import annotations

from typing import Any, ClassVar

from kizami.formats.gptq import QuantizedFormat

__all__ = ["AWQ"]


class AWQFormat(QuantizedFormat):
    name: ClassVar[str] = "awq"
    builder: ClassVar[Any] = "kizami.builders.awq:AWQ"


AWQ = AWQFormat()
