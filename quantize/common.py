"""What GPTQ and AWQ share: options, the checks made before any work, and the gptqmodel run in a child process.

gptqmodel prints to stdout, writes ``./logs``, a 100 MB probe in ``$TMPDIR`` and JIT caches under ``~/.cache``, and
patches transformers when imported; so it runs in a child process whose working folder, ``TMPDIR`` and caches are a
temporary folder, and whose console output goes to a log we quote from on failure. The child reports progress as
JSON lines. The result is written to a staging folder and renamed into place only when complete.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from kizami.core import manifest
from kizami.core.checkpoint import check_hf_dir, read_config
from kizami.core.engine import die_with_parent, last_error
from kizami.core.errors import BackendUnavailable, KizamiError
from kizami.core.hf_folder import finish_hf_folder
from kizami.core.overrides import split_override
from kizami.core.progress import Progress, no_progress

__all__ = ["QuantConfig", "check_group_size", "calibration_rows", "quantize_with_gptqmodel"]

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True, kw_only=True)
class QuantConfig:
    bits: int = 4
    group_size: int = 128  # -1: one scale per output channel
    sym: bool = True
    samples: int = 0  # calibration rows; 0: every row of the calibration set
    seq_len: int = 0  # tokens per row; 0: the set's full row length
    skip_modules: tuple[str, ...] = ()  # regexes of linear layers to keep unquantized (lm_head and embeddings always are)
    batch_size: int = 4
    device: str = "cpu"  # cpu, or cuda / cuda:N for the GPU path
    threads: int | None = None  # CPU threads (default: all cores); does not change the result
    module_bits: tuple[str, ...] = ()  # "regex=bits": other bits for matching linear layers (gptqmodel's `dynamic`)
    # Mixed precision (docs/mixed.md): bits per weight as stored (codes, zero points, scales) over the decoder's
    # linear layers; each layer's bits chosen from `candidates` by measured sensitivity. 0: uniform `bits`.
    budget: float = 0.0
    candidates: tuple[int, ...] = (2, 3, 4, 8)
    sensitivity: str = "kld"  # kld: measured per layer and bit width; proxy: activation-weighted weight error
    sensitivity_rows: int = 16
    version: int = 1

    # subclasses name the method and its own limits
    method: ClassVar[str] = ""
    group_sizes: ClassVar[tuple[int, ...]] = ()
    bit_widths: ClassVar[tuple[int, ...]] = (4, 8)
    out_multiple: ClassVar[int] = 1  # kernels that pack output channels in blocks

    def __post_init__(self) -> None:
        if self.bits not in self.bit_widths:
            raise KizamiError(f"{self.method.upper()} bits must be {' or '.join(map(str, self.bit_widths))}, got {self.bits}")
        for spec in self.module_bits:
            module_override(spec, self.bit_widths)
        if self.budget:
            bad = [b for b in self.candidates if b not in self.bit_widths]
            if bad or len(set(self.candidates)) < 2:
                raise KizamiError(f"{self.method.upper()} candidates must be two or more of "
                                  f"{', '.join(map(str, self.bit_widths))} bits; got {list(self.candidates)}")
            if not min(self.candidates) <= self.budget <= max(self.candidates) + 1:
                raise KizamiError(f"budget {self.budget:g} bits per weight is outside what the candidates can reach "
                                  f"(about {min(self.candidates)} to {max(self.candidates) + 1} with scales)")
            if self.sensitivity not in ("kld", "proxy"):
                raise KizamiError(f"sensitivity {self.sensitivity!r} must be kld (measured) or proxy")
            if self.sensitivity_rows < 1:
                raise KizamiError("sensitivity_rows must be at least 1")
        if self.group_size not in self.group_sizes:
            raise KizamiError(f"{self.method.upper()} group size {self.group_size} is not one of "
                              f"{', '.join(map(str, self.group_sizes))} (-1 = per channel)")
        if self.samples < 0 or self.seq_len < 0 or 0 < self.seq_len < 32:
            raise KizamiError(f"calibration rows need at least 32 tokens (0 = all of the set), got {self.samples} "
                              f"samples x {self.seq_len} tokens")
        if self.batch_size < 1:
            raise KizamiError("batch size must be at least 1")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise KizamiError(f"device must be cpu or cuda[:N], got {self.device!r}")

    def library_config(self) -> dict[str, Any]:
        """Keyword arguments for gptqmodel's config class."""
        dynamic: dict[str, dict[str, Any]] = {f"-:{pattern}": {} for pattern in self.skip_modules}
        for spec in self.module_bits:
            pattern, bits = module_override(spec, self.bit_widths)
            dynamic[f"+:{pattern}"] = {"bits": bits}
        return {"bits": self.bits, "group_size": self.group_size, "sym": self.sym, **({"dynamic": dynamic} if dynamic else {})}


def module_override(spec: str, allowed: tuple[int, ...]) -> tuple[str, int]:
    """``"regex=bits"`` → (regex, bits), checked; the regex is searched in the module name (model.layers.3.mlp.up_proj)."""
    pattern, bits = split_override(spec, "module bits", lambda v: v.isdigit() and int(v) in allowed,
                                   f"REGEX=BITS with BITS one of {', '.join(map(str, allowed))}, e.g. mlp.down_proj=8")
    return pattern, int(bits)


def check_module_bits(model: Path, cfg: QuantConfig) -> None:
    """Every ``module_bits`` regex must match a linear layer of this model (checked before any work)."""
    config = read_config(model)
    modules = [f"model.layers.{i}.{kind}" for i in range(int(config["num_hidden_layers"])) for kind in _linear_shapes(config)]
    for spec in cfg.module_bits:
        pattern, _ = module_override(spec, cfg.bit_widths)
        if not any(re.search(pattern, m) for m in modules):
            raise KizamiError(f"module bits {spec!r} matches no linear layer of this model; names look like {modules[0]}")


def _linear_shapes(config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(in_features, out_features) of each linear layer in a Llama-family decoder block."""
    hidden, inter = int(config["hidden_size"]), int(config["intermediate_size"])
    heads = int(config["num_attention_heads"])
    kv = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    return {"self_attn.q_proj": (hidden, heads * head_dim), "self_attn.k_proj": (hidden, kv * head_dim),
            "self_attn.v_proj": (hidden, kv * head_dim), "self_attn.o_proj": (heads * head_dim, hidden),
            "mlp.gate_proj": (hidden, inter), "mlp.up_proj": (hidden, inter), "mlp.down_proj": (inter, hidden)}


def check_group_size(model: Path, cfg: QuantConfig) -> None:
    """Every quantized layer's width must be a multiple of the group size (serving kernels need whole groups)."""
    shapes = _linear_shapes(read_config(model))
    if cfg.group_size != -1:
        for name, (fan_in, _) in shapes.items():
            if fan_in % cfg.group_size:
                works = [g for g in cfg.group_sizes if g == -1 or all(i % g == 0 for i, _ in shapes.values())]
                raise KizamiError(
                    f"group size {cfg.group_size} does not divide model.layers.*.{name} (in_features {fan_in}); "
                    f"sizes that work for this model: {', '.join(map(str, sorted(works)))} (-1 = per channel)")
    for name, (_, fan_out) in shapes.items():
        if fan_out % cfg.out_multiple:
            raise KizamiError(f"{cfg.method.upper()} needs out_features divisible by {cfg.out_multiple}; "
                              f"model.layers.*.{name} has {fan_out}")


def calibration_rows(calib: Path, samples: int, seq_len: int) -> list[list[int]]:
    """The first ``samples`` rows of a calibration build (0: all), each cut to ``seq_len`` tokens (0: uncut)."""
    m = manifest.load(calib)
    if m.format != "calib":
        raise KizamiError(f"{calib} is a {m.format} build, not a calibration set (`kizami calib build`)")
    problems = manifest.verify(calib)
    if problems:
        raise KizamiError(f"calibration set {calib} does not verify ({problems[0]}); rebuild it")
    rows: list[list[int]] = []
    with open(calib / "samples.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if samples and len(rows) == samples:
                break
            ids = json.loads(line)["input_ids"]
            rows.append(ids[:seq_len] if seq_len else ids)
    if len(rows) < samples:
        raise KizamiError(f"calibration set {calib} has {len(rows)} samples, {samples} asked; "
                          f"build a larger one (`kizami calib build --samples {samples}`) or lower --samples")
    if not rows:
        raise KizamiError(f"calibration set {calib} holds no samples; rebuild it")
    if min(len(r) for r in rows) < seq_len:
        raise KizamiError(f"calibration set {calib} has rows of {min(len(r) for r in rows)} tokens, {seq_len} asked; "
                          "rebuild it with a longer --seq-len or lower --seq-len here")
    return rows


def _engine_version() -> str:
    try:
        return f"gptqmodel=={metadata.version('gptqmodel')}"
    except metadata.PackageNotFoundError:
        raise BackendUnavailable("GPTQ and AWQ need gptqmodel 7.6.0; run `bash scripts/setup.sh`") from None


def _finish(model: Path, stage: Path) -> None:
    if not (stage / "config.json").is_file() or not any(stage.glob("*.safetensors")):
        raise KizamiError("gptqmodel finished without writing config.json and safetensors weights")
    finish_hf_folder(model, stage)


def layer_errors(build: Path) -> list[dict[str, str]]:
    """gptqmodel's per-module log (layer, module, loss, samples, damp, time), when the build has one."""
    path = Path(build) / "quant_log.csv"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _run_worker(spec: dict[str, Any], tmp: Path, progress: Progress, n_layers: int) -> None:
    spec_path = tmp / "spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, "TMPDIR": str(tmp), "HF_HOME": str(tmp / "hf"), "XDG_CACHE_HOME": str(tmp / "cache"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GPTQMODEL_OFFLINE": "1",
           "GPTQMODEL_DISABLE_PACK_EXT": "1", "GPTQMODEL_DISABLE_GPTQ_CUDA": "1",
           "GPTQMODEL_TORCH_EXTENSIONS_DIR": str(tmp / "ext"), "TOKENIZERS_PARALLELISM": "false",
           # its model loader asks for 2 CPU workers; the default pool has 1 on a 2-core machine
           "GPTQMODEL_CPU_WORKERS": os.environ.get("GPTQMODEL_CPU_WORKERS", "2")}
    env.pop("DEBUG", None)  # gptqmodel reads this generic name
    cmd = [sys.executable, "-m", "kizami.quantize._worker", str(spec_path)]
    log.info("$ %s", " ".join(cmd))
    done: set[int] = set()
    with subprocess.Popen(die_with_parent(cmd), cwd=tmp, env=env, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if event.get("event") == "layer":
                    done.add(int(event["layer"]))
                    progress(f"layer {len(done)}/{n_layers}", len(done), n_layers)
                elif event.get("event") == "stage":
                    progress(event["message"], len(done), n_layers)
        except BaseException:  # Ctrl-C or SIGTERM in kizami: the worker must not go on writing
            proc.kill()
            raise
    if proc.returncode != 0:
        raise KizamiError(f"gptqmodel failed: {_log_error(tmp / 'worker.log') or f'exit {proc.returncode}'}"
                          f" (full log: re-run with -v)")


def _log_error(log_path: Path) -> str:
    if not log_path.is_file():
        return ""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    log.info("gptqmodel log:\n%s", "\n".join(text.splitlines()[-60:]))
    return last_error(text)


def quantize_with_gptqmodel(model: Path, out: Path, cfg: QuantConfig, *,
                            calib: Path, force: bool = False, facts: dict[str, Any] | None = None,
                            progress: Progress = no_progress) -> Path:
    """Quantize ``model`` into the build folder ``out`` with gptqmodel (``cfg.method``: gptq or awq)."""
    model, out, calib = check_hf_dir(Path(model)), Path(out).absolute(), Path(calib).absolute()
    check_group_size(model, cfg)
    check_module_bits(model, cfg)
    rows = calibration_rows(calib, cfg.samples, cfg.seq_len)
    calib_m = manifest.load(calib)
    source = manifest.checkpoint_digest(model)  # hashes every weight file: once
    config = {k: v for k, v in asdict(cfg).items() if k != "threads"}  # threads do not change the weights
    params = {"source_sha256": source["sha256"], "config": config,
              "calibration_sha256": calib_m.calibration.get("sha256") if calib_m.calibration else None,
              "engine": _engine_version(), "unquantized_dtype": "float16", **(facts or {})}
    if manifest.is_current(out, params):
        progress(f"{out} is current; skipping", 1, 1)
        return out
    if out.exists() and not force:
        raise KizamiError(f"{out} exists but was made from other inputs or is incomplete; pass --force to replace it")
    n_layers = int(read_config(model)["num_hidden_layers"])
    manifest.check_free_space(out.parent, int(sum(p.stat().st_size for p in model.glob("*.safetensors")) * 0.6)
                              + (64 << 20), f"the {cfg.method.upper()} build")
    m = manifest.Manifest(format=cfg.method, parameters=params, source=source,
                          calibration=calib_m.calibration)
    with manifest.staged_build(out, m, overwrite=True) as stage, manifest.scratch("q") as tmp:
        spec = {"method": cfg.method, "source": str(model.resolve()), "out": str(stage.resolve()), "rows": rows,
                "config": cfg.library_config(), "batch_size": cfg.batch_size, "device": cfg.device,
                "threads": cfg.threads or os.cpu_count() or 1, "log": str(Path(tmp) / "worker.log")}
        _run_worker(spec, Path(tmp), progress, n_layers)
        _finish(model, stage)
    return out
