"""Hugging Face safetensors folders: the bf16 source every build is measured against (never made by kizami), and the
base of the GPTQ and AWQ formats, which transformers also loads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from kizami.checkpoint import check_hf_dir
from kizami.formats import Format
from kizami.manifest import Manifest

__all__ = ["HFConfig", "HFFormat", "HF"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HFConfig:
    version: int = 1


class HFFormat(Format):
    name: ClassVar[str] = "hf"
    config: ClassVar[type] = HFConfig
    backend: ClassVar[str] = "torch"
    buildable: ClassVar[bool] = False

    def check(self, path: Path, *, allow_pickle: bool = False) -> None:
        check_hf_dir(path, allow_pickle=allow_pickle)

    def tags(self, m: Manifest) -> list[str]:
        return ["safetensors"]

    def how_to_run(self, build: Path, m: Manifest, repo: str) -> str:
        name = repo or "./" + build.name
        return ("```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
                f"tok = AutoTokenizer.from_pretrained('{name}')\n"
                f"model = AutoModelForCausalLM.from_pretrained('{name}', device_map='auto')\n```")


HF = HFFormat()
