"""GPTQ builds, the reading side: loaded by transformers and vLLM; the serving notes of the card (which fast kernels a
build can use). Made by ``kizami.builders.gptq``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kizami.core.manifest import Manifest
from kizami.formats.hf import HFFormat

__all__ = ["QuantizedFormat", "GPTQ", "fast_kernels"]

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


class QuantizedFormat(HFFormat):
    """What GPTQ and AWQ share: loaded by transformers (and vLLM on a GPU), with serving notes on the fast kernels."""

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


class GPTQFormat(QuantizedFormat):
    name: ClassVar[str] = "gptq"
    builder: ClassVar[Any] = "kizami.builders.gptq:GPTQ"


GPTQ = GPTQFormat()
