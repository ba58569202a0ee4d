"""ONNX builds (onnxruntime-genai's model builder): fp32 / int8 / int4 for CPU, fp16 / int4 for CUDA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from kizami.errors import KizamiError
from kizami.formats import Format, NameTag, converter_side
from kizami.manifest import Manifest
from kizami.progress import Progress, no_progress
from kizami.snippets import build_facts, onnx_snippet

__all__ = ["ONNX"]


class ONNXFormat(Format):
    name: ClassVar[str] = "onnx"
    config: ClassVar[type] = converter_side("kizami.export.onnx:ONNXConfig")
    backend: ClassVar[str] = "onnx"
    library_name: ClassVar[str] = "onnxruntime-genai"
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
        from kizami.export.onnx import export_onnx

        return {"": export_onnx(model, out, cfg, progress=progress)}

    def check(self, path: Path, *, allow_pickle: bool = False) -> None:
        try:
            cfg = json.loads((path / "genai_config.json").read_text(encoding="utf-8"))
            model_file = cfg["model"]["decoder"]["filename"]
        except FileNotFoundError:
            raise KizamiError(f"{path} has no genai_config.json; re-export the build with `kizami export onnx`") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KizamiError(f"{path}/genai_config.json is unreadable ({type(exc).__name__}: {exc}); re-export the "
                              "build with `kizami export onnx`") from None
        if not isinstance(model_file, str) or not (path / model_file).is_file():
            raise KizamiError(f"{path}: genai_config.json names model file {model_file!r}, which is not there")

    def tags(self, m: Manifest) -> list[str]:
        precision = str(m.parameters.get("config", {}).get("precision", ""))
        bits = {"int4": 4, "int8": 8, "fp16": 16, "bf16": 16, "fp32": 32}.get(precision)
        return ["onnx", "onnxruntime-genai", *([precision] if precision else []), *([f"{bits}-bit"] if bits else [])]

    def how_to_run(self, build: Path, m: Manifest, repo: str) -> str:
        facts = build_facts(build, repo=repo, source=m.source_path)
        return ("With onnxruntime-genai's generator loop (`pip install onnxruntime-genai`):\n\n" + onnx_snippet(facts))


ONNX = ONNXFormat()
