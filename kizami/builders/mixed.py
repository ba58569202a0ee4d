"""Mixed precision to a size budget: which tensors of this model, on this model's data, deserve the bits.

1. **Sensitivity** (``measure``): for every 2-D weight (each decoder layer's q/k/v/o and gate/up/down projections,
   the token embeddings, the output matrix) and every candidate type, the mean KL divergence from the unquantized
   model over the calibration rows when only that tensor holds that type's weights and every other tensor keeps its
   own. The candidate weights are the engine's own: for GGUF, dequantized from a llama-quantize build that stores
   every weight at that type with the same importance matrix, so the cost measured is the cost of the very bits the
   build will store. The **proxy** (no forward pass per tensor and type): the second-order estimate
   ``KLD ≈ ½ Σ F_ij (W_ij − Q_ij)²`` per token, with ``F`` the diagonal Fisher information of the next-token loss on
   the same rows (squared gradients, one backward pass per row); bench/mixed.py compares its ranking and its values
   with the measured ones (Spearman rho, docs/mixed.md).
2. **Allocation** (``allocate``): a multiple-choice knapsack, minimize the summed cost subject to the summed bytes
   staying within the budget, solved exactly by dynamic programming over sizes rounded *up* to 1/4096 of the budget
   (so a choice never exceeds it). It treats the costs as additive; bench/mixed.py checks the predicted KLD against
   the measured one of the built files.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kizami.core import manifest, toolchain
from kizami.core.checkpoint import read_config
from kizami.core.constants import HF_LAYER_KINDS
from kizami.core.errors import KizamiError
from kizami.core.gguf_header import gguf_file, read_tensors
from kizami.core.progress import Progress, no_progress
from kizami.export.gguf import weight_names

__all__ = ["Sensitivity", "measure", "allocate", "spearman", "gguf_sensitivity", "gptq_sensitivity", "hf_name", "rtn"]

_RESOLUTION = 4096


def hf_name(name: str) -> str:
    """GGUF tensor name → the transformers parameter it comes from."""
    if name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if name == "output.weight":
        return "lm_head.weight"
    _, layer, kind, _ = name.split(".")
    return f"model.layers.{layer}.{HF_LAYER_KINDS[kind]}.weight"


@dataclass(slots=True)
class Sensitivity:
    """Cost (KLD, or the proxy's units) and stored size of every tensor at every candidate type."""

    method: str  # kld | proxy
    types: list[str]
    cost: dict[str, dict[str, float]]  # tensor -> type -> cost
    n_bytes: dict[str, dict[str, int]]  # tensor -> type -> bytes stored
    n_weights: dict[str, int]
    proxy: dict[str, dict[str, float]] = field(default_factory=dict)
    tokens: int = 0

    def bits_per_weight(self, choice: Mapping[str, str]) -> float:
        return 8 * sum(self.n_bytes[n][t] for n, t in choice.items()) / sum(self.n_weights[n] for n in choice)

    def predicted(self, choice: Mapping[str, str]) -> float:
        return sum(self.cost[n][t] for n, t in choice.items())

    def uniform(self, gtype: str) -> dict[str, str]:
        return dict.fromkeys(self.cost, gtype)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sensitivity:
        return cls(**data)


def allocate(sens: Sensitivity, budget_bpw: float, pinned: Mapping[str, str] | None = None) -> dict[str, str]:
    """The type of each tensor that minimizes the summed cost within ``budget_bpw`` bits per weight (module doc)."""
    pinned = dict(pinned or {})
    names = list(sens.cost)
    capacity = budget_bpw * sum(sens.n_weights.values()) / 8
    unit = capacity / _RESOLUTION
    best = np.full(_RESOLUTION + 1, np.inf)
    best[0] = 0.0
    picks = []
    for name in names:
        options = [pinned[name]] if name in pinned else sens.types
        new, pick = np.full_like(best, np.inf), np.full(best.shape, -1, dtype=np.int16)
        for i, gtype in enumerate(options):
            w = math.ceil(sens.n_bytes[name][gtype] / unit - 1e-9)
            if w > _RESOLUTION:
                continue
            cand = np.full_like(best, np.inf)
            cand[w:] = best[: _RESOLUTION + 1 - w] + sens.cost[name][gtype]
            better = cand < new
            new[better], pick[better] = cand[better], i
        best = new
        picks.append((name, options, pick))
    if not np.isfinite(best).any():
        smallest = sens.bits_per_weight({n: pinned.get(n) or min(sens.types, key=sens.n_bytes[n].__getitem__) for n in names})
        raise KizamiError(f"budget {budget_bpw:g} bits per weight is below the smallest this model's tensors reach "
                          f"({smallest:.3f} with every tensor at its smallest candidate)")
    at = int(np.nanargmin(best))
    choice = {}
    for name, options, pick in reversed(picks):
        gtype = options[int(pick[at])]
        choice[name] = gtype
        at -= math.ceil(sens.n_bytes[name][gtype] / unit - 1e-9)
    return {n: choice[n] for n in names}


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get their average rank)."""
    def ranks(x: Sequence[float]) -> np.ndarray:
        arr = np.asarray(x, dtype=float)
        order = arr.argsort(kind="stable")
        r = np.empty(len(arr))
        r[order] = np.arange(len(arr))
        for v in np.unique(arr):
            r[arr == v] = r[arr == v].mean()
        return r
    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def _dequantizer(folder: Path, config: dict[str, Any]) -> Callable[[str], np.ndarray]:
    """A function: GGUF tensor name → its dequantized weights in the transformers layout (float32)."""
    sys.path.insert(0, str(toolchain.find().gguf_py))  # the pinned llama.cpp's own gguf-py: reader and dequantizers
    try:
        from gguf import GGUFReader
        from gguf.quants import dequantize
    finally:
        sys.path.pop(0)
    tensors = {t.name: t for t in GGUFReader(gguf_file(folder)).tensors}
    heads, kv = int(config["num_attention_heads"]), int(config.get("num_key_value_heads") or config["num_attention_heads"])

    def load(name: str) -> np.ndarray:
        t = tensors[name]
        w = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(tuple(int(d) for d in reversed(t.shape)))
        kind = name.split(".")[2] if name.startswith("blk.") else ""
        if kind in ("attn_q", "attn_k"):  # the converter permutes q/k rows for llama.cpp's rope; undo it
            n = heads if kind == "attn_q" else kv
            w = w.reshape(n, w.shape[0] // n // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
        return w

    return load


def measure(model: Path, rows: Sequence[Sequence[int]], candidates: Mapping[str, Callable[[str], np.ndarray]],
            names: Sequence[str], *, method: str = "kld", journal: Path | None = None,
            progress: Progress = no_progress, batch_size: int = 4) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], int]:
    """(measured KLD or {}, proxy, tokens): each tensor at each candidate type, the rest unquantized (module doc).

    ``journal``: finished tensors are appended there and skipped on a re-run (an interrupted pass resumes)."""
    import torch
    from transformers import AutoModelForCausalLM

    from kizami.core.tokenizer import quiet_transformers

    quiet_transformers()
    # fp32 (an 8B model needs 32 GB for its weights and as much again for the Fisher pass: a GPU's work)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch.float32, trust_remote_code=False,
                                               use_safetensors=True, local_files_only=True).to(device).eval()  # type: ignore[arg-type]  # transformers' stub
    params = dict(net.named_parameters())
    batches = [torch.tensor(list(rows[i:i + batch_size]), device=device) for i in range(0, len(rows), batch_size)]
    tokens = sum(b.numel() for b in batches)
    # the unquantized model's log-probabilities, and the diagonal Fisher information of its next-token loss for each
    # weight (squared gradients, one row at a time), which the proxy weights the rounding error with
    with torch.inference_mode():
        reference = [net(input_ids=b).logits.log_softmax(-1) for b in batches]
        ref_probs = [r.exp() for r in reference]
    targets = [params[hf_name(n)] for n in names]
    fisher = [torch.zeros_like(t) for t in targets]
    for b in batches:
        for row in b:
            logits = net(input_ids=row[None]).logits[0, :-1]
            grads = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, row[1:], reduction="sum"), targets)
            for f, g in zip(fisher, grads):
                f += g * g
    fisher_of = dict(zip(names, fisher))

    done: dict[str, dict[str, Any]] = {}
    if journal and journal.is_file():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                done[entry["tensor"]] = entry
            except (json.JSONDecodeError, KeyError):
                break  # a line cut by the interruption: redo from there
    kld: dict[str, dict[str, float]] = {}
    proxy: dict[str, dict[str, float]] = {}
    for i, name in enumerate(names):
        progress(f"sensitivity of {name}", i, len(names))
        if name in done:
            kld[name], proxy[name] = done[name]["kld"], done[name]["proxy"]
            continue
        param = params[hf_name(name)]
        original = param.data.clone()
        kld[name], proxy[name] = {}, {}
        for gtype, load in candidates.items():
            q = torch.from_numpy(load(name)).to(device)
            # second order: KLD ≈ ½ Δwᵀ F Δw per token, with F's diagonal summed over the rows' tokens
            proxy[name][gtype] = float((fisher_of[name] * (original - q).pow(2)).sum()) / (2 * tokens)
            if method == "kld":
                param.data.copy_(q)
                total = 0.0
                with torch.inference_mode():
                    for b, ref, p in zip(batches, reference, ref_probs):
                        total += float((p * (ref - net(input_ids=b).logits.log_softmax(-1))).sum())
                kld[name][gtype] = total / tokens
                param.data.copy_(original)
        if journal:
            with open(journal, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"tensor": name, "kld": kld[name], "proxy": proxy[name]}) + "\n")
    progress("sensitivity measured", len(names), len(names))
    return (kld if method == "kld" else {}), proxy, tokens


def cached_sensitivity(model: Path, calib: Path, folder: Path, *, names: list[str],
                       loaders: Mapping[str, Callable[[str], np.ndarray]], n_bytes: dict[str, dict[str, int]],
                       n_weights: dict[str, int], inputs: dict[str, Any], method: str, rows: int,
                       progress: Progress) -> Sensitivity:
    """``measure`` cached as a build folder (``folder``): a re-run with the same ``inputs`` reads it, an interrupted
    one resumes from its journal."""
    from kizami.quantize.common import calibration_rows

    calib_m, source = manifest.load(calib), manifest.checkpoint_digest(model)
    params = {"source_sha256": source["sha256"], "method": method, "rows": rows,
              "calibration_sha256": (calib_m.calibration or {}).get("sha256"), **inputs}
    if manifest.is_current(folder, params):
        return Sensitivity.from_json(json.loads((folder / "sensitivity.json").read_text(encoding="utf-8")))
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    journal = folder.parent / f".{folder.name}-{key}.journal.jsonl"
    folder.parent.mkdir(parents=True, exist_ok=True)
    kld, proxy, tokens = measure(model, calibration_rows(calib, rows, 0), loaders, names, method=method,
                                 journal=journal, progress=progress)
    sens = Sensitivity(method=method, types=list(loaders), cost=kld or proxy, n_bytes=n_bytes, n_weights=n_weights,
                       proxy=proxy, tokens=tokens)
    m = manifest.Manifest(format="sensitivity", parameters=params, source=source, calibration=calib_m.calibration)
    with manifest.staged_build(folder, m, overwrite=True) as stage:
        (stage / "sensitivity.json").write_text(json.dumps(sens.to_json(), indent=1), encoding="utf-8")
    journal.unlink(missing_ok=True)
    return sens


def gguf_sensitivity(model: Path, candidates: Mapping[str, Path], calib: Path, folder: Path, *, method: str,
                     rows: int, progress: Progress = no_progress) -> Sensitivity:
    """Each tensor's cost at each candidate GGUF type, from the candidate builds' own (dequantized) weights."""
    config = read_config(model)
    names = weight_names(config)
    stored = {t: read_tensors(gguf_file(p)) for t, p in candidates.items()}
    return cached_sensitivity(
        model, calib, folder, names=names, loaders={t: _dequantizer(p, config) for t, p in candidates.items()},
        n_bytes={n: {t: stored[t][n].n_bytes for t in candidates} for n in names},
        n_weights={n: stored[next(iter(candidates))][n].n_weights for n in names},
        inputs={"candidates": {t: manifest.load(p).files for t, p in candidates.items()}},
        method=method, rows=rows, progress=progress)


def rtn(w: np.ndarray, bits: int, group: int) -> np.ndarray:
    """Symmetric round-to-nearest in groups of ``group`` input columns (-1: per output channel), GPTQ's grid: the
    cheap stand-in for GPTQ's own rounding when measuring which layers need more bits."""
    out, cols = w.shape
    g = cols if group == -1 else group
    x = w.reshape(out, cols // g, g)
    levels = 2 ** bits - 1
    scale = np.maximum(np.abs(x).max(-1, keepdims=True) * 2 / levels, 1e-12)
    zero = (levels + 1) / 2
    return ((np.clip(np.round(x / scale + zero), 0, levels) - zero) * scale).reshape(out, cols).astype(np.float32)


def gptq_bytes(rows: int, cols: int, bits: int, group: int) -> int:
    """Bytes of one GPTQ-packed linear layer: codes, zero points and fp16 scales per group, and the int32 g_idx."""
    groups = 1 if group == -1 else cols // group
    return rows * cols * bits // 8 + groups * rows * bits // 8 + groups * rows * 2 + cols * 4


def gptq_sensitivity(model: Path, calib: Path, folder: Path, *, bits: Sequence[int], group: int, method: str,
                     rows: int, progress: Progress = no_progress) -> Sensitivity:
    """Each decoder linear layer's cost at each bit width (round-to-nearest stand-in, see ``rtn``); the embeddings
    and the output matrix stay unquantized in GPTQ builds, so they are not candidates."""
    from safetensors import safe_open

    config = read_config(model)
    names = [n for n in weight_names(config) if n.startswith("blk.")]
    shapes: dict[str, tuple[int, int]] = {}
    for f in sorted(Path(model).glob("*.safetensors")):
        with safe_open(str(f), "np") as st:
            shapes |= {n: tuple(st.get_slice(hf_name(n)).get_shape()) for n in names if hf_name(n) in st.keys()}
    weights: dict[str, np.ndarray] = {}

    def loader(b: int) -> Callable[[str], np.ndarray]:
        def load(name: str) -> np.ndarray:
            if name not in weights:
                weights.clear()  # one layer's original weights at a time
                weights[name] = _hf_weight(model, hf_name(name))
            return rtn(weights[name], b, group)
        return load

    return cached_sensitivity(
        model, calib, folder, names=names, loaders={f"w{b}": loader(b) for b in bits},
        n_bytes={n: {f"w{b}": gptq_bytes(*shapes[n], b, group) for b in bits} for n in names},
        n_weights={n: shapes[n][0] * shapes[n][1] for n in names},
        inputs={"bits": list(bits), "group": group, "quantizer": "rtn"}, method=method, rows=rows, progress=progress)


def _hf_weight(model: Path, name: str) -> np.ndarray:
    import torch
    from safetensors import safe_open

    for f in sorted(Path(model).glob("*.safetensors")):
        with safe_open(str(f), "pt") as st:
            if name in st.keys():
                return st.get_tensor(name).to(torch.float32).numpy()
    raise KizamiError(f"{model}: no tensor {name}")
