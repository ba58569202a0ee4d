"""GPTQ builds (gptqmodel): second-order rounding learned from the calibration set; loads in transformers and vLLM."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from kizami.errors import KizamiError
from kizami.formats import NameTag, Progress, _no_progress
from kizami.formats.hf import HFFormat
from kizami.manifest import Manifest
from kizami.quantize.gptq import GPTQConfig

__all__ = ["QuantizedFormat", "GPTQ"]


def _group(cfg: Any) -> str:
    return f"w{cfg.bits}g{cfg.group_size}" if cfg.group_size != -1 else f"w{cfg.bits}ch"


class QuantizedFormat(HFFormat):
    """What GPTQ and AWQ share: calibrated, loaded by transformers, named ``w<bits>g<group>`` (``ch``: per channel)."""

    buildable: ClassVar[bool] = True
    label_fields: ClassVar[tuple[str, ...]] = ("bits", "group_size")
    name_tags: ClassVar[dict[str, NameTag]] = {
        "sym": lambda v: "sym" if v else "asym", "samples": lambda v: f"n{v}", "seq_len": lambda v: f"len{v}",
        "batch_size": None, "device": None, "threads": None}

    def needs_calibration(self, cfg: Any) -> bool:
        return True

    def label(self, cfg: Any) -> list[str]:
        return [_group(cfg)]

    def tags(self, m: Manifest) -> list[str]:
        return [self.name, f"{m.parameters.get('config', {}).get('bits', '?')}-bit", "safetensors"]

    def how_to_run(self, build: Path, m: Manifest, repo: str) -> str:
        return HFFormat.how_to_run(self, build, m, repo) + f"\n\n```bash\nvllm serve {repo or './' + build.name}\n```"

    def build(self, model: Path, out: Path, cfg: Any, *, calib: Path | None,
              progress: Progress = _no_progress) -> dict[str, Path]:
        from kizami.quantize.common import quantize_with_gptqmodel

        if calib is None:
            raise KizamiError(f"{self.name.upper()} learns from a calibration set; give one (--calib, or [calib])")
        return {"": quantize_with_gptqmodel(model, out, cfg, calib=calib, force=True, progress=progress)}


class GPTQFormat(QuantizedFormat):
    name: ClassVar[str] = "gptq"
    config: ClassVar[type] = GPTQConfig
    name_tags: ClassVar[dict[str, NameTag]] = {
        **QuantizedFormat.name_tags, "desc_act": lambda v: "act" if v else "noact",
        "damp_percent": lambda v: f"damp{v:g}", "true_sequential": lambda v: "seq" if v else "noseq"}


GPTQ = GPTQFormat()
