"""ONNX builds (onnxruntime-genai), the reading side: the genai_config.json check and the card's generator loop.
Made by ``kizami.builders.onnx``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from kizami.core.errors import KizamiError
from kizami.core.manifest import Manifest
from kizami.formats import Format
from kizami.formats.snippets import build_facts, onnx_snippet

__all__ = ["ONNX"]


class ONNXFormat(Format):
    name: ClassVar[str] = "onnx"
    backend: ClassVar[str] = "onnx"
    library_name: ClassVar[str] = "onnxruntime-genai"
    builder: ClassVar[Any] = "kizami.builders.onnx:ONNX"

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
