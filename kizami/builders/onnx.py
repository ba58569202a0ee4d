"""ONNX builds, the building side (onnxruntime-genai's model builder): fp32 / int8 / int4 for CPU, fp16 / int4 for
CUDA, from the checkpoint or from a GPTQ/AWQ build."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from kizami.builders import Builder, NameTag
from kizami.core.progress import Progress, no_progress
from kizami.export.onnx import ONNXConfig, export_onnx

__all__ = ["ONNX"]


class ONNXBuilder(Builder):
    name: ClassVar[str] = "onnx"
    config: ClassVar[type] = ONNXConfig
    label_fields: ClassVar[tuple[str, ...]] = ("precision", "target")
    name_tags: ClassVar[dict[str, NameTag]] = {
        "accuracy_level": lambda v: f"acc{v}", "int4_block_size": lambda v: f"b{v}",
        "from_build": lambda v: f"from-{Path(v).name}", "lm_head": lambda v: f"head-{v}"}
    recipe_exclude: ClassVar[tuple[str, ...]] = ("version", "from_build")
    plural_keys: ClassVar[dict[str, str]] = {"precisions": "precision"}

    def label(self, cfg: Any) -> list[str]:
        return [cfg.precision, cfg.target]

    def build(self, model: Path, out: Path, cfg: Any, *, calib: Path | None,
              progress: Progress = no_progress) -> dict[str, Path]:
        return {"": export_onnx(model, out, cfg, progress=progress)}


ONNX = ONNXBuilder()
