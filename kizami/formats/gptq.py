"""GPTQ builds (gptqmodel): second-order rounding learned from the calibration set; loads in transformers and vLLM."""

from __future__ import annotations

import collections
import dataclasses
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kizami.errors import KizamiError
from kizami.formats import NameTag, converter_side
from kizami.formats.hf import HFFormat
from kizami.manifest import Manifest
from kizami.progress import Progress, no_progress

__all__ = ["QuantizedFormat", "GPTQ", "fast_kernels"]

log = logging.getLogger(__name__)

# The fast int4/int8 kernels' conditions, from vLLM's compatibility checks (quantization/gptq_marlin.py,
# awq_marlin.py and utils/marlin_utils.py, as summarised in DESIGN.md; not run here: the machine has no GPU).
MARLIN_GROUP_SIZES = (-1, 32, 64, 128)
_SOURCE = ("vLLM's `gptq_marlin.py` / `awq_marlin.py` compatibility checks and `marlin_utils.py` "
           "(`MARLIN_SUPPORTED_GROUP_SIZES`); conditions read from the source, not measured here")


def fast_kernels(method: str, cfg: Mapping[str, Any]) -> list[tuple[str, bool, str]]:
    """(kernel, usable, why) for a GPTQ/AWQ config: which fast serving kernels this build can use."""
    bits, group, sym = cfg.get("bits"), cfg.get("group_size"), cfg.get("sym", True)
    group_ok = group in MARLIN_GROUP_SIZES
    if method == "gptq":
        ok = bits in (4, 8) and bool(sym) and group_ok
        why = [] if ok else [w for w, bad in (
            (f"{bits}-bit (needs 4 or 8)", bits not in (4, 8)), ("asymmetric (needs sym=true)", not sym),
            (f"group size {group} (needs -1, 32, 64 or 128)", not group_ok)) if bad]
        marlin = ("vLLM GPTQ-Marlin", ok, "symmetric 4/8-bit, group size -1/32/64/128" if ok else "; ".join(why))
    else:
        ok = bits == 4 and group_ok
        why = [w for w, bad in ((f"{bits}-bit (needs 4)", bits != 4),
                                (f"group size {group} (needs -1, 32, 64 or 128)", not group_ok)) if bad]
        marlin = ("vLLM AWQ-Marlin", ok, "4-bit, group size -1/32/64/128" if ok else "; ".join(why))
    hf = ("transformers (through gptqmodel)", True,
          "loads on CPU and GPU; gptqmodel picks its kernel at load time (its Marlin kernel on CUDA under the same "
          "conditions as above" + ("" if ok else ", so a slower kernel for this build") + ")")
    return [marlin, hf]


def _serving_notes(method: str, cfg: Mapping[str, Any]) -> str:
    rows = ["| kernel | this build | why |", "|---|---|---|"]
    rows += [f"| {k} | {'yes' if ok else '**no**'} | {why} |" for k, ok, why in fast_kernels(method, cfg)]
    return "\n".join(["### Serving notes", "", *rows, "", f"Source: {_SOURCE}."])


def _group(cfg: Any) -> str:
    return f"w{cfg.bits}g{cfg.group_size}" if cfg.group_size != -1 else f"w{cfg.bits}ch"


class QuantizedFormat(HFFormat):
    """What GPTQ and AWQ share: calibrated, loaded by transformers, named ``w<bits>g<group>`` (``ch``: per channel)."""

    buildable: ClassVar[bool] = True
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
        from kizami.quantize.common import check_group_size, check_module_bits

        check_group_size(model, cfg)
        check_module_bits(model, cfg)

    def label(self, cfg: Any) -> list[str]:
        if cfg.budget:  # the bits are chosen per layer: the name says the budget
            return [f"mix{cfg.budget:g}" + ("ch" if cfg.group_size == -1 else f"g{cfg.group_size}")]
        return [_group(cfg)]

    def name_ignores(self, cfg: Any, stem: str) -> tuple[str, ...]:
        return () if cfg.budget else ("candidates", "sensitivity", "sensitivity_rows")

    def tags(self, m: Manifest) -> list[str]:
        cfg = m.parameters.get("config", {})
        if "budget_bpw" in m.parameters:
            return [self.name, "mixed-precision", f"{m.parameters['bpw']:.2f}-bpw", "safetensors"]
        bits = cfg.get("bits")
        return [self.name, *([f"{bits}-bit", f"int{bits}"] if bits else []), "safetensors"]

    def how_to_run(self, build: Path, m: Manifest, repo: str) -> str:
        cfg = m.parameters.get("config", {})
        return "\n\n".join([HFFormat.how_to_run(self, build, m, repo), "With vLLM (a CUDA GPU):",
                             f"```bash\nvllm serve {repo or '.'}  # vLLM picks the Marlin kernel itself when the build fits it\n```",
                             _serving_notes(self.name, cfg)])

    def _warn_off_fast_path(self, cfg: Any, widths: list[int], which: str = "") -> None:
        for bits in widths:
            for kernel, ok, why in fast_kernels(self.name, {"bits": bits, "group_size": cfg.group_size, "sym": cfg.sym}):
                if not ok:
                    log.warning("%s build%s w%dg%d%s falls off the fast serving path: %s cannot serve it (%s); it "
                                "will run on slower kernels", self.name.upper(), which, bits, cfg.group_size,
                                "" if cfg.sym else " asym", kernel, why)

    def build(self, model: Path, out: Path, cfg: Any, *, calib: Path | None,
              progress: Progress = no_progress) -> dict[str, Path]:
        from kizami.quantize.common import quantize_with_gptqmodel

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
    from kizami.mixed import allocate, gptq_sensitivity, hf_name
    from kizami.quantize.common import module_override

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


class GPTQFormat(QuantizedFormat):
    name: ClassVar[str] = "gptq"
    config: ClassVar[type] = converter_side("kizami.quantize.gptq:GPTQConfig")
    name_tags: ClassVar[dict[str, NameTag]] = {
        **QuantizedFormat.name_tags, "desc_act": lambda v: "act" if v else "noact",
        "damp_percent": lambda v: f"damp{v:g}", "true_sequential": lambda v: "seq" if v else "noseq"}


GPTQ = GPTQFormat()
