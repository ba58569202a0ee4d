"""GGUF builds (llama.cpp), the reading side: the header check, the card's llama-server, chat and FIM snippets, and the
Ollama Modelfile. Made by ``kizami.builders.gguf``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from kizami.core.gguf_header import gguf_file, nominal_bits, read_metadata
from kizami.core.manifest import Manifest
from kizami.formats import Format
from kizami.formats.snippets import build_facts, llama_server_snippets, modelfile

__all__ = ["GGUF"]


class GGUFFormat(Format):
    name: ClassVar[str] = "gguf"
    backend: ClassVar[str] = "llama-cpp"
    library_name: ClassVar[str] = "gguf"
    builder: ClassVar[Any] = "kizami.builders.gguf:GGUF"

    def check(self, path: Path, *, allow_pickle: bool = False) -> None:
        read_metadata(gguf_file(path))

    def tags(self, m: Manifest) -> list[str]:
        gtype = str(m.parameters.get("type", ""))
        if "budget_bpw" in m.parameters:
            return ["gguf", "llama.cpp", "mixed-precision", f"{m.parameters['bpw']:.2f}-bpw"]
        bits = nominal_bits(gtype)  # as the type's name says it (K-quants mix a few higher-bit tensors in)
        return ["gguf", "llama.cpp", gtype.upper(), *([f"{bits}-bit"] if bits else [])]

    def how_to_run(self, build: Path, m: Manifest, repo: str) -> str:
        facts = build_facts(build, repo=repo, source=m.source_path)
        snippets = llama_server_snippets(facts)
        parts = ["With llama.cpp's `llama-server` (an OpenAI-style HTTP API on 127.0.0.1; `PORT` picks the port):", "",
                 snippets["llama-server"]]
        if "chat-http" in snippets:
            parts += ["", "Chat, through the chat template stored in the GGUF:", "", snippets["chat-http"]]
        if "fim-http" in snippets:
            parts += ["", "Fill-in-the-middle: write the model's own FIM prompt and send it to `/completion` as token ids "
                      "(from `/tokenize` with `add_special: false`):", "", snippets["fim-http"], "", _FIM_ADVICE]
        parts += ["", "Ollama: this folder's `Modelfile` (`FROM` this GGUF; its template writes the FIM prompt above from "
                  "Ollama's prefix and suffix, and the chat turns): `ollama create my-model -f Modelfile`. Ollama puts "
                  "the GGUF's BOS in front of every prompt, which the FIM format does not have; for exact FIM use "
                  "`/completion` as above."]
        return "\n".join(parts)

    def bundle_files(self, build: Path, m: Manifest, repo: str) -> dict[str, str]:
        facts = build_facts(build, repo=repo, source=m.source_path)
        return {"Modelfile": modelfile(facts)} if facts.gguf else {}


# What bench/llamacpp_fim.py measured on the stand-in (docs/bundles.md has the table and the command).
_FIM_ADVICE = (
    "Why not `/infill`: llama.cpp builds that prompt itself, as BOS + `<|fim_prefix|>` + prefix + `<|fim_suffix|>` + "
    "suffix + `<|fim_middle|>` (with `--spm-infill`: suffix before prefix, in llama.cpp's own order), so it cannot put "
    "`<|begin_of_text|>` inside the prefix as this model was trained, nor drop the suffix's first newline. A text "
    "prompt to `/completion` gets a BOS in front. Measured with kizami's `bench/llamacpp_fim.py` on its stand-in model "
    "(72 single-line tasks, greedy): the request above sends kizami's own prompt ids in every task and its middles "
    "agree with kizami's evaluation in 90% of tasks, against 53% for a text prompt, 19% for `/infill` and 3% for "
    "`/infill` with `--spm-infill` (kizami's docs/bundles.md has the table).")


GGUF = GGUFFormat()
