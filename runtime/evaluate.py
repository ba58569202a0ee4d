"""Evaluate a build against the bf16 reference: ``make_reference`` once, then ``evaluate`` each build.

Everything here goes through the Backend protocol; nothing depends on the build's format.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kizami import fim_dialects, manifest, toolchain
from kizami.calib_data.fim import read_tasks
from kizami.checkpoint import check_hf_dir, read_config
from kizami.errors import KizamiError
from kizami.runtime import build_format, open_build
from kizami.runtime.metrics.fim import MODES, FimSettings, fim_exact_match
from kizami.runtime.metrics.quality import quality
from kizami.runtime.metrics.reference import PackedIds, Reference, plan_windows
from kizami.runtime.metrics.size import size
from kizami.runtime.metrics.speed import SpeedSettings, speed
from kizami.runtime.result import EvalResult
from kizami.tokenizer import load_tokenizer

__all__ = ["METRICS", "EvalSettings", "eval_texts", "make_reference", "reference_for", "tokenizer_parity", "result_key",
           "evaluate"]

METRICS = ("quality", "fim", "speed", "size", "parity", "humaneval", "humaneval-chat", "humaneval-infill", "longctx")
DEFAULT_METRICS = METRICS[:5]  # functional correctness generates far more tokens: asked for by name
# (description, total) -> advance(n)
ProgressFactory = Callable[[str, int], Callable[[int], None]]


def _no_progress(_desc: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


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
        unknown = set(self.metrics) - set(METRICS)
        if unknown:
            raise KizamiError(f"unknown metric(s) {sorted(unknown)}; choose from {', '.join(METRICS)}")
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


def make_reference(ref_model: Path, data: Path, settings: EvalSettings, progress: ProgressFactory = _no_progress) -> Reference:
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
                               top_k=settings.top_k, progress=progress("reference distributions", n_windows),
                               meta={"ref_model": str(Path(ref_model).resolve()), "dtype": getattr(backend, "dtype", None),
                                     "fim_dialect": dialect.name if dialect else None,
                                     "eval_set": manifest.load(data).calibration if (Path(data) / manifest.MANIFEST_NAME).is_file() else None})
        ref.long_stream = long_stream
        return ref
    finally:
        backend.close()


def reference_for(ref_model: Path, data: Path, settings: EvalSettings, progress: ProgressFactory = _no_progress) -> Reference:
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


def ref_dialect(ref: Reference) -> fim_dialects.Dialect | None:
    """The FIM dialect the reference's prompts were written in."""
    name = ref.meta.get("fim_dialect")
    return fim_dialects.get(name) if name else None


def fim_prompter(backend: Any, dialect: fim_dialects.Dialect) -> Callable[[str, str, str], list[int]]:
    """``(prefix, suffix, mode) -> ids`` in ``dialect``, with the build's own tokenizer and special-token ids."""
    def prompt(prefix: str, suffix: str, mode: str) -> list[int]:
        return dialect.prompt_ids(lambda t: backend.tokenize([t])[0], backend.token_id, prefix, suffix, mode)

    return prompt


def tokenizer_parity(backend: Any, ref: Reference) -> dict[str, Any]:
    """Does the build's own tokenizer give the source tokenizer's ids for the eval texts and the FIM prompts?"""
    checks: dict[str, bool] = {}
    for d, dref in ref.domains.items():
        (ids,) = backend.tokenize([dref.text])
        n = len(dref.stream) - 1  # stream may be truncated to max_tokens_per_domain
        checks[f"text:{d}"] = list(ids[:n]) == dref.stream[1:].tolist()
    dialect = ref_dialect(ref)
    for mode, prompts in ref.fim_prompts.items():
        if dialect is None or not backend.caps.fim:
            checks[f"fim:{mode}"] = False
            continue
        prompt = fim_prompter(backend, dialect)
        mine = [prompt(task.prompt, task.suffix, mode) for task in ref.fim_tasks]
        checks[f"fim:{mode}"] = all(list(a) == list(b) for a, b in zip(mine, prompts))
    return {"match": sum(checks.values()) / len(checks), "checks": checks}


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


def _functional(backend: Any, settings: EvalSettings, dialect: fim_dialects.Dialect | None, ref_model: str | None,
                progress: ProgressFactory, journal: Path | None) -> dict[str, Any]:
    """HumanEval pass@k and execution-checked infilling, when asked for (model-written code runs in the sandbox)."""
    from kizami.calib_data.problems import InfillConfig, load_problems, make_infill_tasks
    from kizami.checkpoint import chat_template, render_chat
    from kizami.runtime.metrics.functional import GenSettings, humaneval, humaneval_chat, infilling
    from kizami.runtime.sandbox import SandboxConfig

    wanted = {"humaneval", "humaneval-chat", "humaneval-infill"} & set(settings.metrics)
    if not wanted:
        return {}
    out: dict[str, Any] = {}
    problems = load_problems(settings.problems)[: settings.problems_limit or None]
    sandbox = SandboxConfig(timeout_s=settings.sandbox_timeout_s)
    log_file = journal.with_name(journal.name.replace("fim-", "functional-")) if journal else None
    if "humaneval" in wanted:
        gen = settings.generation()
        out["humaneval"] = humaneval(backend, problems, gen, sandbox=sandbox, journal=log_file,
                                     progress=progress("HumanEval completions", len(problems) * gen.samples))
    if "humaneval-chat" in wanted:
        template = chat_template(Path(ref_model)) if ref_model else ""
        if not template:
            out["humaneval_chat"] = {"skipped": "the source model has no chat template"}
        else:
            gen = settings.generation()
            out["humaneval_chat"] = humaneval_chat(
                backend, problems, lambda text: render_chat(template, [{"role": "user", "content": text}]), gen,
                sandbox=sandbox, journal=log_file, progress=progress("HumanEval chat", len(problems) * gen.samples))
    if "humaneval-infill" in wanted:
        if not backend.caps.fim or dialect is None:
            out["humaneval_infill"] = {"skipped": "no FIM tokens"}
            return out
        tasks, per_kind = [], Counter[str]()
        for task in make_infill_tasks(problems, InfillConfig()):
            per_kind[task.kind] += 1
            if not settings.infill_limit or per_kind[task.kind] <= settings.infill_limit:
                tasks.append(task)

        modes = [m for m in settings.fim_modes if m in dialect.modes]
        out["humaneval_infill"] = infilling(backend, tasks, fim_prompter(backend, dialect), modes=modes,
                                            settings=GenSettings(max_new_tokens=128), sandbox=sandbox, journal=log_file,
                                            progress=progress("HumanEval infilling", len(tasks) * len(modes)))
    return out


def _long_context(backend: Any, ref: Reference, settings: EvalSettings, progress: ProgressFactory,
                  label: str = "long context") -> dict[str, Any]:
    """Loss by position and key retrieval on the reference's long stream of held-out code."""
    from kizami.runtime.metrics.longctx import longctx

    if ref.long_stream is None:
        raise KizamiError("the reference has no long-context stream; it was made without the longctx task")
    lc = settings.long_context()
    code = ref.domains["code"].text if "code" in ref.domains else ""
    steps = 1 + len(lc.retrieval_lengths) * len(lc.depths) * lc.trials
    return longctx(backend, ref.long_stream.tolist(), code, lc, progress(label, steps))


def _kv_cache_variants(build: Path, ref: Reference, settings: EvalSettings, progress: ProgressFactory,
                       kinds: list[str]) -> dict[str, Any]:
    """The long-context checks again per KV-cache precision, each in its own fresh instance of the engine."""
    out: dict[str, Any] = {}
    for kind in kinds:
        backend = open_build(build, **settings.engine_options(), kv_cache=kind)
        try:
            out[kind] = _long_context(backend, ref, settings, progress, f"long context, KV {kind}")
        finally:
            backend.close()
    return out


def evaluate(build: Path, ref: Reference, settings: EvalSettings, *, n_params: int, name: str = "",
             progress: ProgressFactory = _no_progress, journal_dir: Path | None = None) -> EvalResult:
    """Every metric of ``settings`` for ``build``. With ``journal_dir``, FIM completions are journaled there as they
    are made (and read back by a re-run of the same evaluation); the journal is removed when the result is complete."""
    build = Path(build)
    journal = None
    if journal_dir is not None:
        Path(journal_dir).mkdir(parents=True, exist_ok=True)
        journal = Path(journal_dir) / f"fim-{result_key(build, settings, ref)}.jsonl"
    sections: dict[str, Any] = {}
    dialect = ref_dialect(ref)
    backend = open_build(build, **settings.engine_options())
    kv_kinds: list[str] = []
    try:
        environment = _environment(backend)
        if "size" in settings.metrics:
            sections["size"] = size(build, n_params)
        if "parity" in settings.metrics:
            sections["tokenizer_parity"] = tokenizer_parity(backend, ref)
        if "quality" in settings.metrics:
            n = sum(len(ref.windows(d)) for d in ref.domains)
            sections["quality"] = quality(backend, ref, progress("perplexity · KLD · top-1", n))
        if "fim" in settings.metrics:
            total = len(ref.fim_tasks) * len(ref.fim_prompts)
            sections["fim"] = fim_exact_match(backend, ref.fim_tasks, ref.fim_prompts, settings.fim,
                                              progress("FIM exact match", total), journal=journal,
                                              stop_ids=dialect.stop_ids(backend.token_id) if dialect else ())
        if "speed" in settings.metrics:
            source = next(iter(ref.domains.values())).stream.tolist()
            sections["speed"] = speed(backend, source, settings.speed)
        sections |= _functional(backend, settings, dialect, ref.meta.get("ref_model"), progress, journal)
        if "longctx" in settings.metrics:
            sections["longctx"] = _long_context(backend, ref, settings, progress)
        kv_kinds = [k for k in settings.kv_cache_types if k in backend.caps.kv_cache_types]
    finally:
        backend.close()
    if "longctx" in settings.metrics and kv_kinds:  # after the build's own instance is closed
        sections["longctx"]["kv_cache"] = _kv_cache_variants(build, ref, settings, progress, kv_kinds)
    if journal is not None:
        journal.unlink(missing_ok=True)
    return EvalResult(build=str(build), format=build_format(build), name=name or build.name,
                      reference=ref.meta.get("ref_model"), eval_set=ref.meta.get("eval_set"),
                      settings=asdict(settings), environment=environment, **sections)
