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
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kizami import fim_dialects, manifest, toolchain
from kizami.checkpoint import check_hf_dir, count_parameters, read_config
from kizami.engine import run_engine
from kizami.errors import KizamiError
from kizami.gguf_header import read_metadata

__all__ = ["BASE_TYPES", "QUANT_TYPES", "GGUFConfig", "detect_pre_tokenizer", "size_label", "file_name",
           "export_gguf"]

log = logging.getLogger(__name__)

BASE_TYPES = ("f16", "bf16", "f32")
# kizami name -> (llama-quantize name, learns from an importance matrix)
QUANT_TYPES = {
    "q8_0": ("Q8_0", False), "q6_k": ("Q6_K", True), "q5_k_m": ("Q5_K_M", True), "q4_k_m": ("Q4_K_M", True),
    "q4_0": ("Q4_0", False), "iq4_xs": ("IQ4_XS", True), "q3_k_m": ("Q3_K_M", True), "q2_k": ("Q2_K", True),
}
# Approximate bits per weight, for the free-space check before starting.
_APPROX_BITS = {"q8_0": 8.5, "q6_k": 6.6, "q5_k_m": 5.7, "q4_k_m": 4.9, "q4_0": 4.5, "iq4_xs": 4.3, "q3_k_m": 3.9, "q2_k": 3.0}
# Pre-tokenizer regexes llama.cpp implements, by the name the converter writes.
KNOWN_PRE_TOKENIZERS = {
    "llama-bpe": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class GGUFConfig:
    types: tuple[str, ...] = ("q8_0", "q4_k_m")
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
        self.model, self.out, self.cfg, self.progress = check_hf_dir(model), Path(out), cfg, progress
        self.calib = Path(calib) if calib else None
        self.chain = toolchain.find()
        self.threads = cfg.threads or os.cpu_count() or 1
        self.n_params = count_parameters(self.model)
        self.name = cfg.name or self.model.name
        self.source = manifest.checkpoint_digest(self.model)
        self.specials = _special_ids(self.model)  # read once: a 128k-token tokenizer.json is 17 MB
        self.common = {"source_sha256": self.source["sha256"], "llama_cpp": toolchain.LLAMA_CPP_PYTHON_VERSION,
                       "config": asdict(cfg)}

    def file_name(self, gtype: str) -> str:
        return file_name(self.name, self.n_params, gtype, finetune=self.cfg.variant)

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
        self.progress(f"converting to GGUF {cfg.base}")
        m = manifest.Manifest(format="gguf", parameters=params, source=self.source)
        with manifest.staged_build(dest, m, overwrite=True) as stage, tempfile.TemporaryDirectory() as tmp:
            target = stage / self.file_name(cfg.base)
            cmd = [sys.executable, "-m", "kizami.export._gguf_convert", "--llama-cpp", str(self.chain.root),
                   "--pre", pre or "", "--kv", json.dumps({**specials, **self._strings()}), "--", str(self.model), "--outtype", cfg.base,
                   "--outfile", str(target), "--metadata", str(self._metadata_override(Path(tmp)))]
            if cfg.split_max_size:
                cmd += ["--split-max-size", cfg.split_max_size]
            run_engine(cmd, "GGUF conversion", hints=_CONVERTER_HINTS)
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
        if cfg.imatrix == "none" or not any(QUANT_TYPES.get(t, ("", False))[1] for t in cfg.types):
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
            self.progress(f"importance matrix from {calibration['id']}")
            m = manifest.Manifest(format="imatrix", parameters=params, source=self.source, calibration=calibration)
            with manifest.staged_build(dest, m, overwrite=True) as stage, tempfile.TemporaryDirectory() as tmp:
                text = Path(tmp) / f"{calibration['id']}.txt"  # the file name becomes the dataset id in GGUF
                shutil.copy(calib_dir / "calib.txt", text)
                run_engine([str(self.chain.tool("llama-imatrix")), "-m", str(sorted(base.glob("*.gguf"))[0]), "-f", text.name,
                      "-o", str(stage / "imatrix.gguf"), "-c", str(cfg.imatrix_ctx), "--chunks", str(cfg.imatrix_chunks),
                      "-t", str(self.threads), "--no-ppl"], "llama-imatrix", cwd=tmp)
        return dest / "imatrix.gguf"

    def quantized(self, gtype: str, base: Path, imatrix: Path | None) -> Path:
        qname, learns = QUANT_TYPES[gtype]
        use = imatrix if learns else None
        dest = self.out / qname
        params = {**self.common, "type": gtype, "base": manifest.load(base).files,
                  "imatrix_sha256": manifest.sha256_file(use) if use else None}
        if manifest.is_current(dest, params):
            return dest
        self.progress(f"quantizing {qname}" + (" with imatrix" if use else ""))
        calibration = manifest.load(use.parent).calibration if use and (use.parent / manifest.MANIFEST_NAME).is_file() else None
        m = manifest.Manifest(format="gguf", parameters=params, source=self.source, calibration=calibration)
        with manifest.staged_build(dest, m, overwrite=True) as stage:
            target = stage / self.file_name(gtype)
            cmd = [str(self.chain.tool("llama-quantize"))]
            if use:
                cmd += ["--imatrix", str(use)]
            run_engine([*cmd, str(sorted(base.glob("*.gguf"))[0]), str(target), qname, str(self.threads)], "llama-quantize")
            if self.cfg.split_max_size:
                run_engine([str(self.chain.tool("llama-gguf-split")), "--split", "--split-max-size", self.cfg.split_max_size,
                      str(target), str(target.with_suffix(""))], "llama-gguf-split")
                target.unlink()
            self._check(stage, self.specials, None)
        return dest


def export_gguf(model: Path, out: Path, cfg: GGUFConfig = GGUFConfig(), *, calib: Path | None = None,
                progress: Progress = lambda _msg: None) -> dict[str, Path]:
    """Make the base GGUF and every requested type; returns ``{type: build folder}``."""
    exporter = _Exporter(model, out, cfg, calib, progress)
    if read_config(exporter.model).get("model_type") not in ("llama", "mistral", "qwen2", "qwen3"):
        log.warning("model_type %r has not been tested with kizami's GGUF export", read_config(exporter.model).get("model_type"))
    bits = {"f32": 32, "bf16": 16, "f16": 16}[cfg.base] + sum(_APPROX_BITS.get(t, 16) for t in cfg.types if t not in BASE_TYPES)
    manifest.check_free_space(Path(out), int(exporter.n_params * bits / 8 * 1.05) + (64 << 20), "the GGUF export")
    exporter.imatrix_source()  # a wrong --imatrix or --calib fails now, not after the base conversion
    base = exporter.base_build()
    builds = {cfg.base: base}
    imatrix = exporter.imatrix(base)
    for gtype in cfg.types:
        if gtype in BASE_TYPES:
            continue
        builds[gtype] = exporter.quantized(gtype, base, imatrix)
    return builds
