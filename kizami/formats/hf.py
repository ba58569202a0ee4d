"""Hugging Face safetensors folders: the bf16 source every build is measured against (never made by kizami), and the
base of the GPTQ and AWQ formats, which transformers also loads."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from kizami.core.checkpoint import check_hf_dir
from kizami.core.manifest import Manifest
from kizami.formats import Format
from kizami.formats.snippets import build_facts, transformers_snippet

__all__ = ["HFFormat", "HF"]


class HFFormat(Format):
    name: ClassVar[str] = "hf"
    backend: ClassVar[str] = "torch"

    def check(self, path: Path, *, allow_pickle: bool = False) -> None:
        check_hf_dir(path, allow_pickle=allow_pickle)

    def tags(self, m: Manifest) -> list[str]:
        return ["safetensors"]

    def how_to_run(self, build: Path, m: Manifest, repo: str) -> str:
        facts = build_facts(build, repo=repo, source=m.source_path)
        quantized = self.name != "hf"
        return ("With transformers (CPU or GPU; chat through the model's template, then fill-in-the-middle):\n\n"
                + transformers_snippet(facts, quantized=quantized))


HF = HFFormat()
