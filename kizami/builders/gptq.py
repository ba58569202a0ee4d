"""GPTQ builds, the building side (gptqmodel): second-order rounding learned from the calibration set, one bit width
for every layer or (``budget``) per-layer widths chosen by measured sensitivity."""

from __future__ import annotations

import collections
import dataclasses
import logging
import re
from pathlib import Path
from typing import Any, ClassVar

from kizami.builders import Builder, NameTag
from kizami.builders.mixed import allocate, gptq_sensitivity, hf_name
from kizami.core.errors import KizamiError
from kizami.core.progress import Progress, no_progress
from kizami.formats.gptq import fast_kernels
from kizami.quantize.common import check_group_size, check_module_bits, module_override, quantize_with_gptqmodel
from kizami.quantize.gptq import GPTQConfig

__all__ = ["QuantizedBuilder", "GPTQ"]

log = logging.getLogger(__name__)


def _group(cfg: Any) -> str:
    return f"w{cfg.bits}g{cfg.group_size}" if cfg.group_size != -1 else f"w{cfg.bits}ch"


class QuantizedBuilder(Builder):
    """What the GPTQ and AWQ builders share: calibrated, named ``w<bits>g<group>`` (``ch``: per channel)."""

    fixed_type_keys: ClassVar[tuple[str, ...]] = ("bits",)
    label_fields: ClassVar[tuple[str, ...]] = ("bits", "group_size")
    name_tags: ClassVar[dict[str, NameTag]] = {
        "sym": lambda v: "sym" if v else "asym", "samples": lambda v: f"n{v}", "seq_len": lambda v: f"len{v}",
        "batch_size": None, "device": None, "threads": None, "budget": None,
        "candidates": lambda v: "from-" + "-".join(f"w{b}" for b in v), "sensitivity": lambda v: f"by-{v}",
        "sensitivity_rows": lambda v: f"sr{v}"}

    def needs_calibration(self, cfg: Any) -> bool:
        return True

    def check_config(self, model: Path, cfg: Any) -> None:
        check_group_size(model, cfg)
        check_module_bits(model, cfg)

    def label(self, cfg: Any) -> list[str]:
        if cfg.budget:  # the bits are chosen per layer: the name says the budget
            return [f"mix{cfg.budget:g}" + ("ch" if cfg.group_size == -1 else f"g{cfg.group_size}")]
        return [_group(cfg)]

    def name_ignores(self, cfg: Any, stem: str) -> tuple[str, ...]:
        return () if cfg.budget else ("candidates", "sensitivity", "sensitivity_rows")

    def _warn_off_fast_path(self, cfg: Any, widths: list[int], which: str = "") -> None:
        for bits in widths:
            for kernel, ok, why in fast_kernels(self.name, {"bits": bits, "group_size": cfg.group_size, "sym": cfg.sym}):
                if not ok:
                    log.warning("%s build%s w%dg%d%s falls off the fast serving path: %s cannot serve it (%s); it "
                                "will run on slower kernels", self.name.upper(), which, bits, cfg.group_size,
                                "" if cfg.sym else " asym", kernel, why)

    def build(self, model: Path, out: Path, cfg: Any, *, calib: Path | None,
              progress: Progress = no_progress) -> dict[str, Path]:
        if not cfg.budget:  # before any work (a budget build knows its widths after choosing them)
            self._warn_off_fast_path(cfg, [cfg.bits])
        if calib is None:
            raise KizamiError(f"{self.name.upper()} learns from a calibration set; give one (--calib, or [calib])")
        facts = None
        if cfg.budget:
            cfg, facts = _mixed(model, out, cfg, calib, progress)
            self._warn_off_fast_path(cfg, sorted({int(t[1:]) for t in facts["tensor_types"].values()}), " (its layers at)")
        return {"": quantize_with_gptqmodel(model, out, cfg, calib=calib, force=True, facts=facts, progress=progress)}


def _mixed(model: Path, out: Path, cfg: Any, calib: Path, progress: Progress) -> tuple[Any, dict[str, Any]]:
    """A budget build's per-layer bits: measured sensitivity, the allocator, then gptqmodel's ``dynamic`` overrides
    on top of the most common choice; ``module_bits`` given by hand stay as they are."""
    # shared by the budget builds of one group size next to each other (one pass serves every budget)
    folder = out.parent / f"sensitivity-gptq-g{cfg.group_size}"
    sens = gptq_sensitivity(model, calib, folder, bits=cfg.candidates, group=cfg.group_size, method=cfg.sensitivity,
                            rows=cfg.sensitivity_rows, progress=progress)
    fixed = [module_override(spec, cfg.bit_widths) for spec in cfg.module_bits]
    pinned = {n: f"w{b}" for n in sens.cost for pattern, b in reversed(fixed) if re.search(pattern, hf_name(n))}
    choice = allocate(sens, cfg.budget, pinned)
    bits = {n: int(t[1:]) for n, t in choice.items()}
    base = collections.Counter(bits.values()).most_common(1)[0][0]
    overrides = tuple(f"^{re.escape(hf_name(n).removesuffix('.weight'))}$={b}" for n, b in bits.items() if b != base)
    facts = {"budget_bpw": cfg.budget, "bpw": round(sens.bits_per_weight(choice), 4), "tensor_types": choice,
             "sensitivity": sens.method, "predicted_kld": sens.predicted(choice)}
    return dataclasses.replace(cfg, bits=base, module_bits=(*cfg.module_bits, *overrides)), facts


class GPTQBuilder(QuantizedBuilder):
    name: ClassVar[str] = "gptq"
    config: ClassVar[type] = GPTQConfig
    name_tags: ClassVar[dict[str, NameTag]] = {
        **QuantizedBuilder.name_tags, "desc_act": lambda v: "act" if v else "noact",
        "damp_percent": lambda v: f"damp{v:g}", "true_sequential": lambda v: "seq" if v else "noseq"}


GPTQ = GPTQBuilder()
