"""Evaluate a build against the bf16 reference: ``make_reference`` once, then ``evaluate`` each build.

Everything here goes through the Backend protocol; nothing depends on the build's format.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kizami import fim_dialects, manifest, toolchain
from kizami.calib_data.fim import read_tasks
from kizami.checkpoint import check_hf_dir, read_config
from kizami.errors import KizamiError
from kizami.progress import Progress, counter, no_progress
from kizami.runtime import build_format, open_build
from kizami.runtime.metrics import MetricContext, metrics, run_order
from kizami.runtime.metrics.fim import MODES, FimSettings
from kizami.runtime.metrics.parity import ref_dialect
from kizami.runtime.metrics.reference import PackedIds, Reference, plan_windows
from kizami.runtime.metrics.speed import SpeedSettings
from kizami.runtime.result import EvalResult
from kizami.tokenizer import load_tokenizer

__all__ = ["DEFAULT_METRICS", "EvalSettings", "eval_texts", "make_reference", "reference_for", "result_key", "evaluate"]

DEFAULT_METRICS = ("quality", "fim", "speed", "size", "parity")  # functional correctness generates far more tokens: by name


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalSettings:
    ctx: int = 512
    stride: int = 256
    top_k: int = 32
    max_tokens_per_domain: int = 0  # 0 = all held-out text
    fim: FimSettings = field(default_factory=FimSettings)
    fim_modes: tuple[str, ...] = MODES
    fim_limit: int = 0  # 0 = every task
    fim_file: str = ""  # a SantaCoder-FIM JSONL file; default: the evaluation set's eval/fim.jsonl
    fim_dialect: str = ""  # how FIM prompts are written (kizami.fim_dialects); "" = detected from the tokenizer
    speed: SpeedSettings = field(default_factory=SpeedSettings)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    problems: str = "humaneval"  # HumanEval-format problems: the built-in set or a JSONL file
    problems_limit: int = 0  # the first N problems (0 = all; HumanEval has 164)
    humaneval_max_new_tokens: int = 512  # the model card's setting
    humaneval_samples: int = 1  # > 1 with humaneval_sampled: the card's T 0.2 / top-p 0.95, for pass@k
    humaneval_sampled: bool = False
    infill_limit: int = 0  # the first N infilling tasks per kind (0 = all)
    sandbox_timeout_s: float = 3.0  # wall clock per program
    longctx_lengths: tuple[int, ...] = (1024, 2048, 4096)  # loss-by-position bucket edges; the longest is scored
    retrieval_lengths: tuple[int, ...] = (1024, 3072)  # key-retrieval prompt lengths (tokens)
    retrieval_depths: tuple[float, ...] = (0.1, 0.5, 0.9)
    kv_cache_types: tuple[str, ...] = ()  # also measure long context with these KV caches, where the engine has them
    device: str = "cpu"
    threads: int | None = None
    batch_size: int = 0  # sequences generated (windows scored) at once; 0 = as many as fit in memory, up to 16
    version: int = 1

    def __post_init__(self) -> None:
        for name in self.metrics:
            metrics.get(name)  # an unknown name fails here: "did you mean", and the metrics there are
        bad = set(self.fim_modes) - set(MODES)
        if bad:
            raise KizamiError(f"unknown FIM mode(s) {sorted(bad)}; choose from {', '.join(MODES)}")
        plan_windows(self.ctx, self.ctx, self.stride)  # validates ctx / stride
        if self.fim_dialect:
            fim_dialects.get(self.fim_dialect)  # an unknown name fails here, with the known ones
        if self.problems_limit < 0 or self.infill_limit < 0:
            raise KizamiError("problems_limit and infill_limit must be 0 (all) or more")
        if self.batch_size < 0:
            raise KizamiError(f"batch_size must be 0 (as many as fit) or more, got {self.batch_size}")
        self.generation()  # validates the HumanEval settings
        self.long_context()

    def engine_options(self) -> dict[str, Any]:
        """How ``open_build`` opens a build for these settings (an automatic batch size is the engines' default)."""
        return {"device": self.device, "threads": self.threads} | ({"batch_size": self.batch_size} if self.batch_size else {})

    def long_context(self) -> Any:
        from kizami.runtime.metrics.longctx import LongCtxSettings

        return LongCtxSettings(lengths=self.longctx_lengths, retrieval_lengths=self.retrieval_lengths,
                               depths=self.retrieval_depths)

    def generation(self) -> Any:
        from kizami.runtime.metrics.functional import GenSettings

        try:
            return GenSettings(max_new_tokens=self.humaneval_max_new_tokens, samples=self.humaneval_samples,
                               sampled=self.humaneval_sampled)
        except ValueError as exc:
            raise KizamiError(f"HumanEval settings: {exc}") from None

    def reference_key(self) -> dict[str, Any]:
        return {"ctx": self.ctx, "stride": self.stride, "top_k": self.top_k, "max_tokens": self.max_tokens_per_domain,
                "fim_modes": list(self.fim_modes), "fim_limit": self.fim_limit, "fim_file": self.fim_file,
                "fim_dialect": self.fim_dialect,
                "longctx": self.long_context().longest if "longctx" in self.metrics else 0}


def eval_texts(data: Path) -> dict[str, str]:
    """Held-out documents of an evaluation set, joined per domain by a blank line."""
    path = Path(data) / "eval" / "ppl.jsonl"
    if not path.is_file():
        raise KizamiError(f"{data} has no eval/ppl.jsonl; give a calibration build (`kizami calib build`)")
    by_domain: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_domain.setdefault(row["domain"], []).append(row["text"])
    return {d: "\n\n".join(v) for d, v in sorted(by_domain.items())}


def make_reference(ref_model: Path, data: Path, settings: EvalSettings, progress: Progress = no_progress) -> Reference:
    tok = load_tokenizer(ref_model)
    texts = eval_texts(data)
    streams = {}
    for d, text in texts.items():
        ids = [tok.bos_token_id, *tok(text, add_special_tokens=False)["input_ids"]]
        streams[d] = ids[: settings.max_tokens_per_domain] if settings.max_tokens_per_domain else ids
    tasks = read_tasks(Path(settings.fim_file) if settings.fim_file else Path(data) / "eval" / "fim.jsonl")
    if settings.fim_limit:
        tasks = tasks[: settings.fim_limit]
    vocab = tok.get_vocab()
    dialect = fim_dialects.for_model(settings.fim_dialect, vocab)  # None: no FIM tokens, FIM is reported skipped

    def encode(text: str) -> list[int]:
        return list(tok(text, add_special_tokens=False)["input_ids"])

    modes = [m for m in settings.fim_modes if dialect and m in dialect.modes]
    prompts = {m: PackedIds.pack(dialect.prompt_ids(encode, vocab, t.prompt, t.suffix, m) for t in tasks)
               for m in modes if dialect}
    long_stream = None
    if "longctx" in settings.metrics:  # held-out code as one long stream, in the source tokenizer's ids
        code = [tok.bos_token_id, *encode(texts.get("code", ""))][: settings.long_context().longest]
        long_stream = np.asarray(code, dtype=np.int32)
    backend = open_build(ref_model, **settings.engine_options())
    n_windows = sum(len(plan_windows(len(s), settings.ctx, settings.stride)) for s in streams.values())
    try:
        ref = Reference.build(backend, texts, streams, tasks, prompts, ctx=settings.ctx, stride=settings.stride,
                               top_k=settings.top_k, progress=counter(progress, "reference distributions", n_windows),
                               meta={"ref_model": str(Path(ref_model).resolve()), "dtype": getattr(backend, "dtype", None),
                                     "fim_dialect": dialect.name if dialect else None,
                                     "eval_set": manifest.load(data).calibration if (Path(data) / manifest.MANIFEST_NAME).is_file() else None})
        ref.long_stream = long_stream
        return ref
    finally:
        backend.close()


def reference_for(ref_model: Path, data: Path, settings: EvalSettings, progress: Progress = no_progress) -> Reference:
    """The reference for (model weights, eval set, settings), cached under kizami's cache folder."""
    check_hf_dir(Path(ref_model))
    eval_texts(data)  # fails early, with the fix, if this is not an evaluation set
    if "longctx" in settings.metrics:
        longest, limit = settings.long_context().longest, read_config(Path(ref_model)).get("max_position_embeddings")
        if isinstance(limit, int) and longest > limit:
            raise KizamiError(f"long-context length {longest} is beyond {Path(ref_model).name}'s maximum of {limit} "
                              "positions (max_position_embeddings); lower longctx_lengths / retrieval_lengths")
    if settings.fim_file:
        read_tasks(Path(settings.fim_file))  # the same for a missing or malformed task file
    key = json.dumps({"model": manifest.checkpoint_digest(Path(ref_model))["sha256"],
                      "data": manifest.sha256_file(Path(data) / "eval" / "ppl.jsonl"),
                      "fim": manifest.sha256_file(Path(settings.fim_file) if settings.fim_file else Path(data) / "eval" / "fim.jsonl"),
                      **settings.reference_key()}, sort_keys=True)
    path = toolchain.cache_dir() / "references" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"
    if path.is_file():
        return Reference.load(path)
    ref = make_reference(ref_model, data, settings, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    ref.save(path)
    return ref


def _environment(backend: Any) -> dict[str, Any]:
    from kizami.doctor import cpu_features

    return {"machine": platform.machine(), "cpu_features": cpu_features(), "device": backend.caps.device,
            "threads": getattr(backend, "threads", None), "versions": manifest.library_versions()}


def result_key(build: Path, settings: EvalSettings, ref: Reference) -> str:
    """Names one evaluation: the build's file hashes, the settings, and the reference it is measured against."""
    build = Path(build)
    files = (manifest.load(build).files if (build / manifest.MANIFEST_NAME).is_file()
             else manifest.checkpoint_digest(build)["weights"])
    ref_digest = hashlib.sha256(b"".join(d.target.tobytes() for d in ref.domains.values())
                                + json.dumps([asdict(t) for t in ref.fim_tasks]).encode()).hexdigest()
    blob = json.dumps({"files": files, "settings": asdict(settings), "ref": ref_digest}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _kv_cache_variants(build: Path, ref: Reference, settings: EvalSettings, progress: Progress,
                       kinds: list[str]) -> dict[str, Any]:
    """The long-context checks again per KV-cache precision, each in its own fresh instance of the engine."""
    from kizami.runtime.metrics.longctx import long_context

    out: dict[str, Any] = {}
    for kind in kinds:
        backend = open_build(build, **settings.engine_options(), kv_cache=kind)
        try:
            out[kind] = long_context(backend, ref, settings, progress, f"long context, KV {kind}")
        finally:
            backend.close()
    return out


def evaluate(build: Path, ref: Reference, settings: EvalSettings, *, n_params: int, name: str = "",
             progress: Progress = no_progress, journal_dir: Path | None = None) -> EvalResult:
    """Every metric of ``settings`` for ``build``. With ``journal_dir``, FIM completions are journaled there as they
    are made (and read back by a re-run of the same evaluation); the journal is removed when the result is complete."""
    build = Path(build)
    journal = None
    if journal_dir is not None:
        Path(journal_dir).mkdir(parents=True, exist_ok=True)
        journal = Path(journal_dir) / f"fim-{result_key(build, settings, ref)}.jsonl"
    sections: dict[str, Any] = {}
    backend = open_build(build, **settings.engine_options())
    ctx = MetricContext(build=build, backend=backend, reference=ref, settings=settings, n_params=n_params,
                        progress=progress, journal=journal, dialect=ref_dialect(ref))
    kv_kinds: list[str] = []
    try:
        environment = _environment(backend)
        for metric_name in run_order(settings.metrics):
            metric = metrics.get(metric_name)
            sections[metric.key()] = metric.run(ctx)
        kv_kinds = [k for k in settings.kv_cache_types if k in backend.caps.kv_cache_types]
    finally:
        backend.close()
    if "longctx" in settings.metrics and kv_kinds:  # after the build's own instance is closed
        sections["longctx"]["kv_cache"] = _kv_cache_variants(build, ref, settings, progress, kv_kinds)
    if journal is not None:
        journal.unlink(missing_ok=True)
    result = EvalResult(build=str(build), format=build_format(build), name=name or build.name,
                        reference=ref.meta.get("ref_model"), eval_set=ref.meta.get("eval_set"),
                        settings=asdict(settings), environment=environment)
    for key, section in sections.items():
        result = result.with_section(key, section)
    return result
