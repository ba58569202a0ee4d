"""HF checkpoint → GGUF: llama.cpp's converter to f16/bf16, an importance matrix from kizami's calibration set, then
llama.cpp's quantizer for each requested type. Every output is a kizami build folder with its manifest.

Layout of ``export_gguf(model, out, cfg)``::

    out/F16/<Name>-<Size>[-<Variant>]-F16.gguf      + kizami.json
    out/imatrix/imatrix.gguf                         + kizami.json   (when an imatrix is used)
    out/Q4_K_M/<Name>-<Size>[-<Variant>]-Q4_K_M.gguf + kizami.json

A re-run skips a folder whose manifest verifies and whose parameters match, and redoes anything else.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kizami.core import fim_dialects, manifest, toolchain
from kizami.core.checkpoint import check_hf_dir, count_parameters, read_config
from kizami.core.constants import FILE_TYPE_BITS, LAYER_KINDS, TENSOR_TYPES
from kizami.core.engine import counted_lines, run_engine
from kizami.core.errors import KizamiError
from kizami.core.gguf_header import gguf_file, read_metadata, read_tensors
from kizami.core.overrides import split_override
from kizami.core.progress import Progress, no_progress

__all__ = ["BASE_TYPES", "QUANT_TYPES", "TENSOR_TYPES", "LAYER_KINDS", "GGUFConfig", "weight_names", "match_overrides",
           "tensor_override", "mixed_stem", "detect_pre_tokenizer", "size_label", "file_name",
           "export_gguf"]

log = logging.getLogger(__name__)

BASE_TYPES = ("f16", "bf16", "f32")
# kizami name -> (llama-quantize name, learns from an importance matrix)
QUANT_TYPES = {
    "q8_0": ("Q8_0", False), "q6_k": ("Q6_K", True), "q5_k_m": ("Q5_K_M", True), "q4_k_m": ("Q4_K_M", True),
    "q4_0": ("Q4_0", False), "iq4_xs": ("IQ4_XS", True), "q3_k_m": ("Q3_K_M", True), "q2_k": ("Q2_K", True),
}
DEFAULT_TYPES = ("q8_0", "q4_k_m")
# A decoder layer's 2-D weights by their GGUF names (llama.cpp's LLM_TENSOR_* names for Llama)
# Pre-tokenizer regexes llama.cpp implements, by the name the converter writes.
KNOWN_PRE_TOKENIZERS = {
    "llama-bpe": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}



@dataclass(frozen=True, slots=True, kw_only=True)
class GGUFConfig:
    types: tuple[str, ...] = ()  # llama.cpp's named types; empty: DEFAULT_TYPES, or none when a budget is set
    base: str = "f16"
    imatrix: str = "calib"  # none | calib | path to an imatrix .gguf
    imatrix_chunks: int = 64
    imatrix_ctx: int = 512
    pre_tokenizer: str = "auto"  # auto: detect a known regex; converter: the converter's own hash; or a name
    name: str = ""  # general.name and file base name; default: the model folder's name
    variant: str = ""
    license: str = ""
    base_model: str = ""  # e.g. an HF repo id, recorded as general.base_model.0.*
    quantized_by: str = "kizami"
    split_max_size: str = ""  # e.g. "2G": shard outputs larger than this
    threads: int | None = None
    # Mixed precision (docs/mixed.md): one build per budget (bits per weight over the 2-D weights), each tensor's type
    # chosen from `candidates` by measured sensitivity so that the predicted KLD is least.
    budget: tuple[float, ...] = ()
    candidates: tuple[str, ...] = ("q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q8_0")
    sensitivity: str = "kld"  # kld: measured KLD per tensor and type; proxy: activation-weighted weight error
    sensitivity_rows: int = 16  # calibration rows the sensitivity pass reads
    tensor_types: tuple[str, ...] = ()  # "regex=type" overrides (llama-quantize --tensor-type); fixed in budget builds
    version: int = 1

    def __post_init__(self) -> None:
        if self.base not in BASE_TYPES:
            raise KizamiError(f"GGUF base type {self.base!r} is not one of {', '.join(BASE_TYPES)}")
        unknown = [t for t in self.types if t not in QUANT_TYPES and t not in BASE_TYPES]
        if unknown:
            raise KizamiError(f"unknown GGUF type(s) {unknown}; choose from {', '.join([*BASE_TYPES, *QUANT_TYPES])}")
        other_base = [t for t in self.types if t in BASE_TYPES and t != self.base]
        if other_base:
            raise KizamiError(f"{other_base[0]} is an unquantized base type; pass --base {other_base[0]} instead of listing it")
        if self.split_max_size and not re.fullmatch(r"\d+[MG]", self.split_max_size):
            raise KizamiError(f"split size {self.split_max_size!r} must look like 500M or 2G")
        for spec in self.tensor_types:
            tensor_override(spec)
        self._check_budget()

    def _check_budget(self) -> None:
        if not self.budget:
            return
        if self.types:
            raise KizamiError("a GGUF build with a budget chooses its own tensor types; drop `types` "
                              f"({', '.join(self.types)}) or put them in a [[build]] of their own")
        bad = [t for t in self.candidates if t not in TENSOR_TYPES]
        if bad or len(set(self.candidates)) < 2:
            raise KizamiError(f"candidates must be two or more of {', '.join(TENSOR_TYPES)}; got {list(self.candidates)}")
        low, high = min(TENSOR_TYPES[t] for t in self.candidates), max(TENSOR_TYPES[t] for t in self.candidates)
        for b in self.budget:
            if not low <= b <= high:
                raise KizamiError(f"budget {b:g} bits per weight is outside what the candidates can reach "
                                  f"({low:g} with all {min(self.candidates, key=TENSOR_TYPES.__getitem__)} to {high:g} "
                                  f"with all {max(self.candidates, key=TENSOR_TYPES.__getitem__)})")
        if len(set(self.budget)) != len(self.budget):
            raise KizamiError(f"budget lists a value twice: {list(self.budget)}")
        if self.sensitivity not in ("kld", "proxy"):
            raise KizamiError(f"sensitivity {self.sensitivity!r} must be kld (measured) or proxy")
        if self.sensitivity_rows < 1:
            raise KizamiError("sensitivity_rows must be at least 1")

    @property
    def quant_types(self) -> tuple[str, ...]:
        """The named types to build: ``types``, or DEFAULT_TYPES when neither types nor a budget is given."""
        return self.types or (() if self.budget else DEFAULT_TYPES)

    @property
    def mixed_stems(self) -> tuple[str, ...]:
        return tuple(mixed_stem(b) for b in self.budget)


def mixed_stem(budget: float) -> str:
    return f"mix{budget:g}"


def tensor_override(spec: str) -> tuple[str, str]:
    """``"regex=type"`` → (regex, type), checked: llama-quantize matches the regex anywhere in the tensor name."""
    pattern, gtype = split_override(spec, "tensor type", lambda v: v.lower() in TENSOR_TYPES,
                                    f"REGEX=TYPE with TYPE one of {', '.join(TENSOR_TYPES)}, e.g. attn_v=q6_k")
    return pattern.lower(), gtype.lower()


def weight_names(config: dict[str, Any]) -> list[str]:
    """The GGUF names of a Llama-family checkpoint's 2-D weights, the tensors a quantizer types one by one."""
    names = [f"blk.{i}.{kind}.weight" for i in range(int(config["num_hidden_layers"])) for kind in LAYER_KINDS]
    return ["token_embd.weight", *names, *([] if config.get("tie_word_embeddings") else ["output.weight"])]


def match_overrides(specs: tuple[str, ...], names: list[str]) -> dict[str, str]:
    """Tensor name → type from ``regex=type`` overrides (the first matching one wins, as in llama-quantize); an
    override that matches no tensor is an error."""
    chosen: dict[str, str] = {}
    for spec in specs:
        pattern, gtype = tensor_override(spec)
        hits = [n for n in names if re.search(pattern, n)]
        if not hits:
            raise KizamiError(f"tensor type {spec!r} matches no tensor of this model; names look like "
                              f"{names[1]}, token_embd.weight, output.weight")
        for name in hits:
            chosen.setdefault(name, gtype)
    return chosen


def detect_pre_tokenizer(model_dir: Path) -> str | None:
    """The llama.cpp pre-tokenizer whose regex equals this tokenizer's, or None."""
    try:
        tok = json.loads((Path(model_dir) / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    patterns = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Split" and isinstance(node.get("pattern"), dict) and "Regex" in node["pattern"]:
                patterns.append(node["pattern"]["Regex"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(tok.get("pre_tokenizer"))
    for name, regex in KNOWN_PRE_TOKENIZERS.items():
        if patterns == [regex]:
            return name
    return None


def _special_ids(model_dir: Path) -> dict[str, int]:
    """The GGUF header's FIM token ids (``tokenizer.ggml.fim_*_token_id``, from the model's FIM dialect) and EOT."""
    tok = json.loads((Path(model_dir) / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = tok.get("model", {}).get("vocab")
    vocab = dict(vocab) if isinstance(vocab, dict) else {}
    vocab |= {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
    dialect = fim_dialects.detect(vocab)
    ids = dialect.gguf_keys(vocab) if dialect else {}
    if "<|eot_id|>" in vocab:
        ids["tokenizer.ggml.eot_token_id"] = vocab["<|eot_id|>"]
    return ids


def size_label(n_params: int) -> str:
    """The naming convention's SizeLabel: ``8B`` for Llama 3.1 8B's 8.03e9 parameters, ``7.2M``, ``135M``.

    Whole numbers from 10 up; below 10 one decimal, unless within 1% of a whole number (how model families name
    themselves: 8.03B is "8B", 3.8B stays "3.8B").
    """
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n_params >= scale:
            value = n_params / scale
            if value >= 10 or abs(value - round(value)) <= 0.01 * value:
                return f"{round(value)}{unit}"
            return f"{value:.1f}{unit}"
    return f"{n_params}"


def _name_part(text: str) -> str:
    """A BaseName/FineTune component the convention's pattern accepts: dash-separated parts, each all digits or
    starting with a letter, no dots (``Llama-3.1-Future-Code-Ja`` → ``Llama-3-1-Future-Code-Ja``)."""
    text = re.sub(r"[\s/._]+", "-", text.strip())
    text = re.sub(r"[^A-Za-z0-9-]", "", text)
    text = re.sub(r"(?<=\d)(?=[A-Za-z])", "-", text)  # "3b" → "3-b": a part starting with a digit is digits only
    return re.sub(r"-{2,}", "-", text).strip("-")


def file_name(name: str, n_params: int, encoding: str, *, finetune: str = "", version: str = "v1.0") -> str:
    """``<BaseName>-<SizeLabel>[-<FineTune>]-<Version>-<Encoding>.gguf``, ggml's GGUF naming convention (docs/gguf.md
    in ggml-org/ggml). The version is required by the convention's check; "v1.0" when the model has none. Shards
    (``llama-gguf-split``, the converter's ``--split-max-size``) append ``-00001-of-0000N`` before ``.gguf``."""
    if not re.fullmatch(r"v\d+(\.\d+)*", version):
        raise KizamiError(f"GGUF file version {version!r} must look like v1.0")
    base = _name_part(name) or "model"
    parts = [base, size_label(n_params), _name_part(finetune), version, encoding.upper()]
    return "-".join(p for p in parts if p) + ".gguf"


_CONVERTER_HINTS = {"BPE pre-tokenizer was not recognized": (
    "llama.cpp's converter does not know this tokenizer's pre-tokenizer; if it splits text like Llama 3, pass "
    "--pre-tokenizer llama-bpe")}


class _Exporter:
    def __init__(self, model: Path, out: Path, cfg: GGUFConfig, calib: Path | None, progress: Progress) -> None:
        # absolute: llama-imatrix runs in a temp folder (its dataset name comes from the text file's name)
        self.model, self.out, self.cfg, self.progress = check_hf_dir(model), Path(out).resolve(), cfg, progress
        # stages: the base conversion, the imatrix, each type; with a budget each candidate, the choice, each budget build
        self.done = 0
        self.imatrix_stage = cfg.imatrix != "none"
        self.stages = 1 + len(cfg.quant_types) + int(self.imatrix_stage)
        self.stages += len(cfg.candidates) + 1 + len(cfg.budget) if cfg.budget else 0
        self.calib = Path(calib) if calib else None
        self.chain = toolchain.find()
        self.threads = cfg.threads or os.cpu_count() or 1
        self.n_params = count_parameters(self.model)
        self.name = cfg.name or self.model.name
        self.source = manifest.checkpoint_digest(self.model)
        self.specials = _special_ids(self.model)  # read once: a 128k-token tokenizer.json is 17 MB
        self.names = weight_names(read_config(self.model))
        self.common = {"source_sha256": self.source["sha256"], "llama_cpp": toolchain.LLAMA_CPP_PYTHON_VERSION,
                       "config": asdict(cfg)}

    def say(self, message: str) -> None:
        """A line within the current stage (its start, or an engine's own count)."""
        self.progress(message, self.done, self.stages)

    def stage_done(self) -> None:
        self.done = min(self.done + 1, self.stages)

    def file_name(self, gtype: str) -> str:
        return file_name(self.name, self.n_params, gtype.replace(".", "_"), finetune=self.cfg.variant)

    def _metadata_override(self, tmp: Path) -> Path:
        meta: dict[str, Any] = {"general.name": self.name, "general.quantized_by": self.cfg.quantized_by,
                                "general.size_label": size_label(self.n_params)}
        if self.cfg.base_model:
            org, _, name = self.cfg.base_model.rpartition("/")
            meta["general.base_models"] = [{"name": name, "organization": org,
                                            "repo_url": f"https://huggingface.co/{self.cfg.base_model}"}]
        path = tmp / "metadata.json"
        path.write_text(json.dumps(meta))
        return path

    def _strings(self) -> dict[str, str]:
        return {"general.license": self.cfg.license} if self.cfg.license else {}

    def base_build(self) -> Path:
        cfg = self.cfg
        dest = self.out / cfg.base.upper()
        pre = {"auto": detect_pre_tokenizer(self.model), "converter": None}.get(cfg.pre_tokenizer, cfg.pre_tokenizer)
        specials = self.specials
        params = {**self.common, "type": cfg.base, "pre_tokenizer": pre or "converter-hash", "special_ids": specials}
        if manifest.is_current(dest, params):
            return dest
        if not self.chain.converter.is_file():
            raise KizamiError(f"llama.cpp's converter is missing ({self.chain.converter}); run `kizami toolchain build`")
        self.say(f"converting to GGUF {cfg.base}")
        m = manifest.Manifest(format="gguf", parameters=params, source=self.source)
        with manifest.staged_build(dest, m, overwrite=True) as stage, manifest.scratch("gguf") as tmp:
            target = stage / self.file_name(cfg.base)
            cmd = [sys.executable, "-m", "kizami.export._gguf_convert", "--llama-cpp", str(self.chain.root),
                   "--pre", pre or "", "--kv", json.dumps({**specials, **self._strings()}), "--", str(self.model), "--outtype", cfg.base,
                   "--outfile", str(target), "--metadata", str(self._metadata_override(Path(tmp)))]
            if cfg.split_max_size:
                cmd += ["--split-max-size", cfg.split_max_size]
            written = counted_lines(self.say, (r"^Writing:\s+(\d+)%", f"{cfg.base.upper()} percent written", 100))
            run_engine(cmd, "GGUF conversion", hints=_CONVERTER_HINTS, on_line=written)  # the converter's byte bar
            self._check(stage, specials, pre)
        return dest

    def _check(self, folder: Path, specials: dict[str, int], pre: str | None) -> None:
        """Verify what must be in the GGUF header: FIM/EOT ids, pre-tokenizer, chat template."""
        first = sorted(folder.glob("*.gguf"))[0]
        meta = read_metadata(first)
        wrong = [f"{k}={meta.get(k)} (want {v})" for k, v in {**specials, **self._strings()}.items() if meta.get(k) != v]
        if pre and meta.get("tokenizer.ggml.pre") != pre:
            wrong.append(f"tokenizer.ggml.pre={meta.get('tokenizer.ggml.pre')} (want {pre})")
        if (self.model / "tokenizer_config.json").is_file() and "chat_template" in (self.model / "tokenizer_config.json").read_text() \
                and not meta.get("tokenizer.chat_template"):
            wrong.append("tokenizer.chat_template missing")
        if wrong:
            raise KizamiError(f"{first.name}: GGUF metadata check failed: {'; '.join(wrong)}")

    def imatrix_source(self) -> Path | manifest.Manifest | None:
        """What the imatrix comes from (an imatrix file, a calibration set, or none), checked before any work."""
        cfg = self.cfg
        if cfg.imatrix == "none" or not (cfg.budget or any(QUANT_TYPES.get(t, ("", False))[1] for t in cfg.quant_types)):
            return None
        if cfg.imatrix != "calib":
            path = Path(cfg.imatrix)
            if not path.is_file():
                raise KizamiError(f"--imatrix {cfg.imatrix}: file not found; use none, calib or an imatrix .gguf")
            return path
        if self.calib is None:
            raise KizamiError("--imatrix calib needs a calibration set: pass --calib (a `kizami calib build` folder)")
        calib = manifest.load(self.calib)
        if calib.format != "calib":
            raise KizamiError(f"{self.calib} is a {calib.format} build, not a calibration set")
        return calib

    def imatrix(self, base: Path) -> Path | None:
        calib = self.imatrix_source()
        if not isinstance(calib, manifest.Manifest):
            return calib
        cfg, calib_dir, calibration = self.cfg, self.calib, calib.calibration or {}
        if calib_dir is None:
            raise KizamiError("--imatrix calib needs a calibration set: pass --calib (a `kizami calib build` folder)")
        dest = self.out / "imatrix"
        params = {**self.common, "base_sha256": manifest.load(base).files, "calibration": calibration,
                  "chunks": cfg.imatrix_chunks, "ctx": cfg.imatrix_ctx}
        if not manifest.is_current(dest, params):
            self.say(f"importance matrix from {calibration['id']}")
            m = manifest.Manifest(format="imatrix", parameters=params, source=self.source, calibration=calibration)
            with manifest.staged_build(dest, m, overwrite=True) as stage, manifest.scratch("gguf") as tmp:
                text = Path(tmp) / f"{calibration['id']}.txt"  # the file name becomes the dataset id in GGUF
                shutil.copy(calib_dir / "calib.txt", text)
                run_engine([str(self.chain.tool("llama-imatrix")), "-m", str(sorted(base.glob("*.gguf"))[0]), "-f", text.name,
                      "-o", str(stage / "imatrix.gguf"), "-c", str(cfg.imatrix_ctx), "--chunks", str(cfg.imatrix_chunks),
                      "-t", str(self.threads), "--no-ppl"], "llama-imatrix", cwd=tmp)
        return dest / "imatrix.gguf"

    def quantized(self, gtype: str, base: Path, imatrix: Path | None) -> Path:
        """One of llama.cpp's named types (its own mixture of tensor types), with the config's overrides on top."""
        qname, learns = QUANT_TYPES[gtype]
        overrides = match_overrides(self.cfg.tensor_types, self.names)
        return self._quantize(self.out / qname, gtype, qname, base, imatrix if learns else None, overrides, {})

    def typed(self, dest: Path, stem: str, base: Path, imatrix: Path | None, tensor_map: dict[str, str],
              facts: dict[str, Any], expect: dict[str, str] | None = None) -> Path:
        """Every 2-D weight at the type ``tensor_map`` gives it; ``expect``: the types the file must then hold
        (llama-quantize falls back to another type where a row does not fit the asked one's blocks)."""
        return self._quantize(dest, stem, "Q8_0", base, imatrix, tensor_map, facts, expect)

    def _quantize(self, dest: Path, stem: str, ftype: str, base: Path, use: Path | None, tensor_map: dict[str, str],
                  facts: dict[str, Any], expect: dict[str, str] | None = None) -> Path:
        params = {**self.common, "type": stem, "base": manifest.load(base).files,
                  "imatrix_sha256": manifest.sha256_file(use) if use else None,
                  **({"tensor_types": tensor_map} if tensor_map else {}), **facts}
        if manifest.is_current(dest, params):
            return dest
        self.say(f"quantizing {stem.upper()}" + (" with imatrix" if use else ""))
        calibration = manifest.load(use.parent).calibration if use and (use.parent / manifest.MANIFEST_NAME).is_file() else None
        m = manifest.Manifest(format="gguf", parameters=params, source=self.source, calibration=calibration)
        with manifest.staged_build(dest, m, overwrite=True) as stage, manifest.scratch("gguf") as tmp:
            target = stage / self.file_name(stem)
            cmd = [str(self.chain.tool("llama-quantize"))]
            if use:
                cmd += ["--imatrix", str(use)]
            if tensor_map:  # anchored names: llama-quantize searches the regex anywhere in the tensor name
                types_file = Path(tmp) / "tensor-types.txt"
                types_file.write_text("".join(f"^{re.escape(n)}$={t}\n" for n, t in tensor_map.items()))
                cmd += ["--tensor-type-file", str(types_file)]
            tensors = counted_lines(self.say, (r"^\[\s*(\d+)/\s*(\d+)\]", f"{stem.upper()} tensors", 0))
            run_engine([*cmd, str(sorted(base.glob("*.gguf"))[0]), str(target), ftype, str(self.threads)], "llama-quantize",
                       on_line=tensors)  # llama-quantize ends a tensor's line "[ 12/ 292] name …" once it is written
            if expect:
                stored = read_tensors(target)
                wrong = [f"{n} is {stored[n].type if n in stored else 'missing'} (want {t})" for n, t in expect.items()
                         if n not in stored or stored[n].type != t]
                if wrong:
                    raise KizamiError(f"llama-quantize did not store the chosen types: {'; '.join(wrong[:3])}")
            if self.cfg.split_max_size:
                run_engine([str(self.chain.tool("llama-gguf-split")), "--split", "--split-max-size", self.cfg.split_max_size,
                      str(target), str(target.with_suffix(""))], "llama-gguf-split")
                target.unlink()
            self._check(stage, self.specials, None)
        return dest


# A budget build's chooser: the candidate builds ({type: folder}, every 2-D weight at that type) and a line-sayer for
# its own progress -> {stem: (tensor name -> candidate type, facts for the manifest)}
Choose = Callable[[dict[str, Path], Callable[[str], None]], dict[str, tuple[dict[str, str], dict[str, Any]]]]


def export_gguf(model: Path, out: Path, cfg: GGUFConfig = GGUFConfig(), *, calib: Path | None = None,
                progress: Progress = no_progress, choose: Choose | None = None) -> dict[str, Path]:
    """Make the base GGUF and every requested type; returns ``{type: build folder}``. With a budget, also one build
    per candidate type (under ``out/candidates``), from which ``choose`` picks each budget build's tensor types.
    ``progress(message, stages done, stages)`` hears each stage as it starts and the counts within it (the
    converter's bytes written, llama-quantize's tensors)."""
    exporter = _Exporter(model, out, cfg, calib, progress)
    config = read_config(exporter.model)
    if config.get("model_type") not in ("llama", "mistral", "qwen2", "qwen3"):
        log.warning("model_type %r has not been tested with kizami's GGUF export", config.get("model_type"))
    match_overrides(cfg.tensor_types, exporter.names)  # an override that matches nothing fails before any work
    if cfg.budget and choose is None:
        raise KizamiError("a GGUF budget build needs a chooser of tensor types (kizami's GGUF format supplies one)")
    bits = FILE_TYPE_BITS[cfg.base] + sum(FILE_TYPE_BITS.get(t, 16) for t in cfg.quant_types if t not in BASE_TYPES)
    bits += sum(TENSOR_TYPES[t] for t in cfg.candidates) + sum(cfg.budget) if cfg.budget else 0
    manifest.check_free_space(Path(out), int(exporter.n_params * bits / 8 * 1.05) + (64 << 20), "the GGUF export")
    exporter.imatrix_source()  # a wrong --imatrix or --calib fails now, not after the base conversion
    base = exporter.base_build()
    exporter.stage_done()
    builds = {cfg.base: base}
    imatrix = exporter.imatrix(base)
    if exporter.imatrix_stage:
        exporter.stage_done()
    for gtype in cfg.quant_types:
        if gtype not in BASE_TYPES:
            builds[gtype] = exporter.quantized(gtype, base, imatrix)
        exporter.stage_done()
    if cfg.budget and choose is not None:
        pinned = match_overrides(cfg.tensor_types, exporter.names)
        candidates = {}
        for t in cfg.candidates:
            candidates[t] = exporter.typed(out / "candidates" / t.upper(), t, base, imatrix, dict.fromkeys(exporter.names, t), {})
            exporter.stage_done()
        stored = {t: {n: i.type for n, i in read_tensors(gguf_file(folder)).items()} for t, folder in candidates.items()}
        chosen = choose(candidates, exporter.say)
        exporter.stage_done()
        for stem, (tensor_map, facts) in chosen.items():
            tensor_map = {**tensor_map, **pinned}
            expect = {n: stored[t][n] if t in stored else t for n, t in tensor_map.items()}
            builds[stem] = exporter.typed(out / stem.upper().replace(".", "_"), stem, base, imatrix, tensor_map, facts, expect)
            exporter.stage_done()
    progress("done", exporter.stages, exporter.stages)
    return builds
