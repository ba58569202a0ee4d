"""GGUF builds, the building side (llama.cpp): one base conversion, an importance matrix from the calibration set, one
build per type, and (``budget``) mixed per-tensor types chosen by measured sensitivity."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from kizami.builders import Builder, NameTag
from kizami.builders.mixed import allocate, gguf_sensitivity
from kizami.core.checkpoint import read_config
from kizami.core.errors import KizamiError
from kizami.core.progress import Progress, no_progress
from kizami.export.gguf import BASE_TYPES, QUANT_TYPES, GGUFConfig, export_gguf, match_overrides, mixed_stem, weight_names

__all__ = ["GGUF"]

_IMATRIX_FIELDS = ("imatrix", "imatrix_chunks", "imatrix_ctx")
_BUDGET_FIELDS = ("candidates", "sensitivity", "sensitivity_rows")  # change only the budget builds


def _choice(sens: Any, budget: float, pinned: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    choice = allocate(sens, budget, pinned)
    return choice, {"budget_bpw": budget, "bpw": round(sens.bits_per_weight(choice), 4), "sensitivity": sens.method,
                    "predicted_kld": sens.predicted(choice)}  # the proxy is an estimate of the KLD too


def _learns(gtype: str) -> bool:
    return bool(QUANT_TYPES.get(gtype, ("", False))[1])


class GGUFBuilder(Builder):
    name: ClassVar[str] = "gguf"
    config: ClassVar[type] = GGUFConfig
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
        match_overrides(cfg.tensor_types, weight_names(read_config(model)))

    def outputs(self, cfg: Any) -> tuple[str, ...]:
        # a budget step's unquantized base (like its candidates) is a means, not one of its builds
        return (*(() if cfg.budget else (cfg.base,)), *cfg.quant_types, *cfg.mixed_stems)

    def name_ignores(self, cfg: Any, stem: str) -> tuple[str, ...]:
        if stem in BASE_TYPES:
            return "base", *_IMATRIX_FIELDS, *_BUDGET_FIELDS, "tensor_types"
        return (*_BUDGET_FIELDS, *(() if _learns(stem) or stem.startswith("mix") else _IMATRIX_FIELDS))

    def build(self, model: Path, out: Path, cfg: Any, *, calib: Path | None,
              progress: Progress = no_progress) -> dict[str, Path]:
        def choose(candidates: dict[str, Path], say: Callable[[str], None]) -> dict[str, tuple[dict[str, str], dict[str, Any]]]:
            if calib is None:
                raise KizamiError("a GGUF budget build measures its tensors on a calibration set; give one (--calib, or [calib])")
            sens = gguf_sensitivity(model, candidates, calib, out / "sensitivity", method=cfg.sensitivity,
                                    rows=cfg.sensitivity_rows, progress=lambda msg, i, n: say(f"{msg} ({i}/{n})"))
            pinned = match_overrides(cfg.tensor_types, list(sens.cost))
            return {mixed_stem(b): _choice(sens, b, pinned) for b in cfg.budget}

        builds = export_gguf(model, out, cfg, calib=calib, progress=progress, choose=choose)
        return {stem: builds[stem] for stem in self.outputs(cfg)}


GGUF = GGUFBuilder()
