"""GGUF builds (llama.cpp): one base conversion, an importance matrix from the calibration set, one build per type."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from kizami.export.gguf import BASE_TYPES, QUANT_TYPES, GGUFConfig, export_gguf
from kizami.formats import Format, NameTag, Progress, _no_progress
from kizami.gguf_header import gguf_file, read_metadata
from kizami.manifest import Manifest

__all__ = ["GGUF"]

_IMATRIX_FIELDS = ("imatrix", "imatrix_chunks", "imatrix_ctx")


def _learns(gtype: str) -> bool:
    return bool(QUANT_TYPES.get(gtype, ("", False))[1])


class GGUFFormat(Format):
    name: ClassVar[str] = "gguf"
    config: ClassVar[type] = GGUFConfig
    backend: ClassVar[str] = "llama-cpp"
    library_name: ClassVar[str] = "gguf"
    name_tags: ClassVar[dict[str, NameTag]] = {
        "types": None, "base": lambda v: f"from-{v}", "imatrix_chunks": lambda v: f"ic{v}",
        "imatrix_ctx": lambda v: f"ictx{v}", "imatrix": lambda v: "noimat" if v == "none" else f"imat-{Path(v).stem}",
        "pre_tokenizer": lambda v: f"pre-{v}", "name": None, "variant": None, "license": None, "base_model": None,
        "quantized_by": None, "split_max_size": None, "threads": None}

    def needs_calibration(self, cfg: Any) -> bool:
        return bool(cfg.imatrix == "calib" and any(_learns(t) for t in cfg.types))

    def outputs(self, cfg: Any) -> dict[str, str]:
        return {t: (QUANT_TYPES[t][0] if t in QUANT_TYPES else t.upper()) for t in (cfg.base, *cfg.types)}

    def name_ignores(self, cfg: Any, stem: str) -> tuple[str, ...]:
        return ("base", *_IMATRIX_FIELDS) if stem in BASE_TYPES else () if _learns(stem) else _IMATRIX_FIELDS

    def build(self, model: Path, out: Path, cfg: Any, *, calib: Path | None,
              progress: Progress = _no_progress) -> dict[str, Path]:
        steps = 1 + len(cfg.types) + (1 if self.needs_calibration(cfg) else 0)
        done = [0]

        def step(message: str) -> None:
            progress(message, done[0], steps)
            done[0] += 1

        return export_gguf(model, out, cfg, calib=calib, progress=step)

    def check(self, path: Path, *, allow_pickle: bool = False) -> None:
        read_metadata(gguf_file(path))

    def tags(self, m: Manifest) -> list[str]:
        return ["gguf", "llama.cpp", str(m.parameters.get("type", "")).upper()]

    def how_to_run(self, build: Path, m: Manifest, repo: str) -> str:
        gguf = next((p.name for p in sorted(build.glob("*.gguf"))), "model.gguf")
        return (f"```bash\n# llama.cpp: chat, or a server whose /infill endpoint does fill-in-the-middle\n"
                f"llama-cli -m {gguf} -p 'def fib(n):' -n 64\nllama-server -m {gguf} --port 8080\n```\n\n"
                f"Ollama: a `Modelfile` with `FROM ./{gguf}`, then `ollama create my-model -f Modelfile`.")


GGUF = GGUFFormat()
