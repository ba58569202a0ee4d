"""Evaluate a build against the bf16 reference: ``make_reference`` once, then ``evaluate`` each build.

Everything here goes through the Backend protocol; nothing depends on the build's format.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kizami.calib_data.fim import read_tasks
from kizami.core import fim_dialects, manifest, toolchain
from kizami.core.checkpoint import check_hf_dir, read_config
from kizami.core.errors import KizamiError
from kizami.core.progress import Progress, counter, no_progress
from kizami.core.tokenizer import load_tokenizer
from kizami.runtime import build_format, open_build
from kizami.runtime.metrics import MetricContext, metrics, run_order
from kizami.runtime.metrics.fim import MODES
from kizami.runtime.metrics.parity import ref_dialect
from kizami.runtime.reference import PackedIds, Reference, plan_windows
from kizami.runtime.result import EvalResult

__all__ = ["DEFAULT_METRICS", "EvalSettings", "eval_texts", "make_reference", "reference_for", "result_key", "evaluate"]

DEFAULT_METRICS = ("quality", "fim", "speed", "size", "parity")  # functional correctness generates far more tokens: by name


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalSettings:
    """``[eval]``: what every metric shares (the reference's windows and FIM tasks, the engine's device and batch).
    Each metric's own settings are its ``[eval.<name>]`` table (its ``Metric.config_class``), kept in ``per_metric``;
    the metrics run get their defaults filled in, so a result records every setting it was measured with."""

    ctx: int = 512
    stride: int = 256
    top_k: int = 32
    max_tokens_per_domain: int = 0  # 0 = all held-out text
    fim_modes: tuple[str, ...] = MODES
    fim_limit: int = 0  # 0 = every task
    fim_file: str = ""  # a SantaCoder-FIM JSONL file; default: the evaluation set's eval/fim.jsonl
    fim_dialect: str = ""  # how FIM prompts are written (kizami.core.fim_dialects); "" = detected from the tokenizer
    metrics: tuple[str, ...] = DEFAULT_METRICS
    device: str = "cpu"
    threads: int | None = None
    batch_size: int = 0  # sequences generated (windows scored) at once; 0 = as many as fit in memory, up to 16
    per_metric: Mapping[str, Any] = field(default_factory=dict)  # metric name -> its settings ([eval.<name>])
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
        if self.fim_limit < 0:
            raise KizamiError(f"fim_limit must be 0 (all) or more, got {self.fim_limit}")
        if self.batch_size < 0:
            raise KizamiError(f"batch_size must be 0 (as many as fit) or more, got {self.batch_size}")
        given = dict(self.per_metric)
        for name, config in given.items():
            cls = metrics.get(name).config_class
            if cls is None:
                raise KizamiError(f"metric {name!r} has no settings; remove its [eval.{name}] table")
            if not isinstance(config, cls):
                raise KizamiError(f"metric {name!r} takes a {cls.__name__}, got {type(config).__name__}")
        for name in self.metrics:
            cls = metrics.get(name).config_class
            if cls is not None and name not in given:
                given[name] = cls()
        object.__setattr__(self, "per_metric", {n: given[n] for n in run_order(given)})

    def of(self, name: str) -> Any:
        """Metric ``name``'s own settings (its defaults when not given); None for a metric without settings."""
        if name in self.per_metric:
            return self.per_metric[name]
        cls = metrics.get(name).config_class
        return None if cls is None else cls()

    def needs(self) -> dict[str, int]:
        """What the reference must hold for the metrics run (``Metric.needs``), the largest ask of each."""
        out: dict[str, int] = {}
        for name in self.metrics:
            for part, n in metrics.get(name).needs(self.of(name)).items():
                out[part] = max(out.get(part, 0), n)
        return out

    def engine_options(self) -> dict[str, Any]:
        """How ``open_build`` opens a build for these settings (an automatic batch size is the engines' default)."""
        return {"device": self.device, "threads": self.threads} | ({"batch_size": self.batch_size} if self.batch_size else {})

    def reference_key(self) -> dict[str, Any]:
        return {"ctx": self.ctx, "stride": self.stride, "top_k": self.top_k, "max_tokens": self.max_tokens_per_domain,
                "fim_modes": list(self.fim_modes), "fim_limit": self.fim_limit, "fim_file": self.fim_file,
                "fim_dialect": self.fim_dialect, **self.needs()}


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
    if n_long := settings.needs().get("long_stream", 0):  # held-out code as one long stream, in the source tokenizer's ids
        code = [tok.bos_token_id, *encode(texts.get("code", ""))][:n_long]
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
    limit = read_config(Path(ref_model)).get("max_position_embeddings")
    for name in settings.metrics:
        longest = metrics.get(name).needs(settings.of(name)).get("long_stream", 0)
        if isinstance(limit, int) and longest > limit:
            raise KizamiError(f"long-context length {longest} is beyond {Path(ref_model).name}'s maximum of {limit} "
                              f"positions (max_position_embeddings); lower the lengths in [eval.{name}]")
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
    from kizami.core.machine import cpu_features

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
    shared = MetricContext(build=build, backend=backend, reference=ref, settings=settings, n_params=n_params,
                           progress=progress, journal=journal, dialect=ref_dialect(ref))
    contexts = {n: dataclasses.replace(shared, config=settings.of(n)) for n in run_order(settings.metrics)}
    try:
        environment = _environment(backend)
        for metric_name, ctx in contexts.items():
            metric = metrics.get(metric_name)
            sections[metric.key()] = metric.run(ctx)
    finally:
        backend.close()
    for metric_name, ctx in contexts.items():  # what needs the build's own instance closed first
        metric = metrics.get(metric_name)
        sections[metric.key()] = metric.finish(ctx, sections[metric.key()])
    if journal is not None:
        journal.unlink(missing_ok=True)
    return EvalResult(build=str(build), format=build_format(build), name=name or build.name,
                      reference=ref.meta.get("ref_model"), eval_set=ref.meta.get("eval_set"),
                      settings=asdict(settings), environment=environment, sections=sections)
