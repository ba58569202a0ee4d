"""GGUF builds (llama.cpp): one base conversion, an importance matrix from the calibration set, one build per type."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from kizami.errors import KizamiError
from kizami.formats import Format, NameTag, converter_side
from kizami.gguf_header import gguf_file, nominal_bits, read_metadata
from kizami.manifest import Manifest
from kizami.progress import Progress, no_progress
from kizami.snippets import build_facts, llama_server_snippets, modelfile

__all__ = ["GGUF"]

_IMATRIX_FIELDS = ("imatrix", "imatrix_chunks", "imatrix_ctx")
_BUDGET_FIELDS = ("candidates", "sensitivity", "sensitivity_rows")  # change only the budget builds


def _choice(sens: Any, budget: float, pinned: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    from kizami.mixed import allocate

    choice = allocate(sens, budget, pinned)
    return choice, {"budget_bpw": budget, "bpw": round(sens.bits_per_weight(choice), 4), "sensitivity": sens.method,
                    "predicted_kld": sens.predicted(choice)}  # the proxy is an estimate of the KLD too


def _learns(gtype: str) -> bool:
    from kizami.export.gguf import QUANT_TYPES

    return bool(QUANT_TYPES.get(gtype, ("", False))[1])


class GGUFFormat(Format):
    name: ClassVar[str] = "gguf"
    config: ClassVar[type] = converter_side("kizami.export.gguf:GGUFConfig")
    backend: ClassVar[str] = "llama-cpp"
    library_name: ClassVar[str] = "gguf"
    fixed_type_keys: ClassVar[tuple[str, ...]] = ("types",)
    name_tags: ClassVar[dict[str, NameTag]] = {
        "types": None, "base": lambda v: f"from-{v}", "imatrix_chunks": lambda v: f"ic{v}",
        "imatrix_ctx": lambda v: f"ictx{v}", "imatrix": lambda v: "noimat" if v == "none" else f"imat-{Path(v).stem}",
        "pre_tokenizer": lambda v: f"pre-{v}", "name": None, "variant": None, "license": None, "base_model": None,
        "quantized_by": None, "split_max_size": None, "threads": None, "budget": None,
        "candidates": lambda v: "from-" + "-".join(v), "sensitivity": lambda v: f"by-{v}",
        "sensitivity_rows": lambda v: f"sr{v}"}

    def needs_calibration(self, cfg: Any) -> bool:
        return bool(cfg.imatrix == "calib" and (cfg.budget or any(_learns(t) for t in cfg.quant_types)))

    def check_config(self, model: Path, cfg: Any) -> None:
        from kizami.checkpoint import read_config
        from kizami.export.gguf import match_overrides, weight_names

        match_overrides(cfg.tensor_types, weight_names(read_config(model)))

    def outputs(self, cfg: Any) -> tuple[str, ...]:
        # a budget step's unquantized base (like its candidates) is a means, not one of its builds
        return (*(() if cfg.budget else (cfg.base,)), *cfg.quant_types, *cfg.mixed_stems)

    def name_ignores(self, cfg: Any, stem: str) -> tuple[str, ...]:
        from kizami.export.gguf import BASE_TYPES

        if stem in BASE_TYPES:
            return "base", *_IMATRIX_FIELDS, *_BUDGET_FIELDS, "tensor_types"
        return (*_BUDGET_FIELDS, *(() if _learns(stem) or stem.startswith("mix") else _IMATRIX_FIELDS))

    def build(self, model: Path, out: Path, cfg: Any, *, calib: Path | None,
              progress: Progress = no_progress) -> dict[str, Path]:
        from kizami.export.gguf import export_gguf, match_overrides, mixed_stem

        def choose(candidates: dict[str, Path], say: Callable[[str], None]) -> dict[str, tuple[dict[str, str], dict[str, Any]]]:
            from kizami.mixed import gguf_sensitivity

            if calib is None:
                raise KizamiError("a GGUF budget build measures its tensors on a calibration set; give one (--calib, or [calib])")
            sens = gguf_sensitivity(model, candidates, calib, out / "sensitivity", method=cfg.sensitivity,
                                    rows=cfg.sensitivity_rows, progress=lambda msg, i, n: say(f"{msg} ({i}/{n})"))
            pinned = match_overrides(cfg.tensor_types, list(sens.cost))
            return {mixed_stem(b): _choice(sens, b, pinned) for b in cfg.budget}

        builds = export_gguf(model, out, cfg, calib=calib, progress=progress, choose=choose)
        return {stem: builds[stem] for stem in self.outputs(cfg)}

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
