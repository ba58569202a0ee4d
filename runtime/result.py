"""``EvalResult``: one build measured against bf16, as every reader sees it (pipeline, report, bundle, CLI).

The metric sections stay the JSON objects the metrics write (``quality``, ``fim``, ``speed``, ``size``,
``tokenizer_parity``); the accessors below are the only place that knows their layout, and a metric that was not
measured (or was skipped) reads as ``None``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kizami.errors import KizamiError

__all__ = ["EvalResult", "RunSummary"]


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalResult:
    SCHEMA: ClassVar[int] = 2

    build: str
    format: str
    name: str = ""
    reference: str | None = None
    eval_set: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    size: dict[str, Any] | None = None
    tokenizer_parity: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    fim: dict[str, Any] | None = None
    speed: dict[str, Any] | None = None
    humaneval: dict[str, Any] | None = None  # completion pass@k, each problem's outcome
    humaneval_chat: dict[str, Any] | None = None  # the same problems asked through the chat template
    humaneval_infill: dict[str, Any] | None = None  # infilling by exact match and by execution, per FIM mode
    longctx: dict[str, Any] | None = None  # loss by position and key retrieval (and per KV-cache type)
    extra: dict[str, Any] = field(default_factory=dict)  # sections of metrics registered from outside, by their key
    gates: dict[str, Any] | None = None  # the verdict, set once by the pipeline; None for the reference itself

    # --- (de)serialization -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.SCHEMA, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}

    @classmethod
    def from_dict(cls, data: Any) -> EvalResult:
        if not isinstance(data, dict) or data.get("schema") != cls.SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise KizamiError(f"an evaluation result of schema {found!r}, this kizami reads {cls.SCHEMA}; re-run the "
                              "evaluation (`kizami eval` or `kizami run`)")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def replace(self, **changes: Any) -> EvalResult:
        return dataclasses.replace(self, **changes)

    def with_section(self, key: str, value: Any) -> EvalResult:
        """This result with a metric's section replaced (a field of its own, or one under ``extra``)."""
        if key in _FIELDS and key != "extra":
            return self.replace(**{key: value})
        return self.replace(extra={**self.extra, key: value})

    # --- what readers ask ----------------------------------------------------------------------------------------
    def section(self, key: str) -> Any:
        """A metric's section by its key (``Metric.key()``): a field of its own, or one under ``extra``."""
        if key in _FIELDS and key != "extra":
            return getattr(self, key)
        return self.extra.get(key)

    @property
    def fim_skipped(self) -> str | None:
        """Why FIM was not measured (no FIM tokens, not asked), or None when it was."""
        if self.fim is None:
            return "not measured"
        return self.fim.get("skipped")

    def fim_em(self, mode: str) -> float | None:
        return None if self.fim_skipped else _num(_get(self.fim, mode, "em"))

    def fim_by_language(self, mode: str) -> dict[str, float]:
        return (None if self.fim_skipped else _get(self.fim, mode, "by_language")) or {}

    @property
    def fim_agreement(self) -> float | None:
        """Share of FIM completions identical to bf16's, both modes pooled."""
        agree = None if self.fim_skipped else _get(self.fim, "agreement")
        return float(sum(agree.values()) / len(agree)) if agree else None

    def ppl(self, domain: str) -> float | None:
        return _num(_get(self.quality, "ppl", domain))

    def ppl_change_pct(self, domain: str) -> float | None:
        ratio = _get(self.quality, "ppl_ratio", domain)
        return None if ratio is None else (ratio - 1) * 100

    @property
    def domains(self) -> list[str]:
        return list(_get(self.quality, "ppl_ratio") or {})

    @property
    def kld(self) -> float | None:
        return _num(_get(self.quality, "kld", "all", "mean"))

    @property
    def top1(self) -> float | None:
        return _num(_get(self.quality, "top1", "all"))

    @property
    def size_bytes(self) -> int | None:
        size = _get(self.size, "bytes")
        return None if size is None else int(size)

    @property
    def bits_per_weight(self) -> float | None:
        return _num(_get(self.size, "bits_per_weight"))

    @property
    def prefill_tok_s(self) -> float | None:
        return _num(_get(self.speed, "prefill_tok_s", "median"))

    @property
    def decode_tok_s(self) -> float | None:
        return _num(_get(self.speed, "decode_tok_s", "median"))

    @property
    def batch_tok_s(self) -> float | None:
        """Generated tokens/s with ``speed.batch`` sequences decoded at once (the evaluation's throughput)."""
        return _num(_get(self.speed, "batched", "tok_s", "median"))

    @property
    def peak_mib(self) -> float | None:
        return _num(next(iter((_get(self.speed, "memory") or {}).values()), None))

    @property
    def parity(self) -> float | None:
        return _num(_get(self.tokenizer_parity, "match"))

    @property
    def pass1(self) -> float | None:
        """HumanEval pass@1 (completion), or None when not measured."""
        return _num(_get(self.humaneval, "pass@1"))

    @property
    def pass1_interval(self) -> tuple[float, float] | None:
        iv = _get(self.humaneval, "interval95")
        return (float(iv["low"]), float(iv["high"])) if iv else None

    def infill_pass1(self, mode: str = "psm") -> float | None:
        return _num(_get(self.humaneval_infill, mode, "pass@1"))

    def long_context_rows(self) -> list[tuple[str, list[float], float | None, float | None]]:
        """(KV cache, loss per position bucket, retrieval accuracy, peak MiB): the build's own cache first."""
        if not self.longctx:
            return []
        runs = [("default", self.longctx), *sorted((self.longctx.get("kv_cache") or {}).items())]
        return [(kv, [float(b["nll"]) for b in run["loss"]["buckets"]], _num(_get(run, "retrieval", "accuracy")),
                 _num(next(iter((run.get("memory") or {}).values()), None))) for kv, run in runs]

    @property
    def long_context_buckets(self) -> list[str]:
        buckets = _get(self.longctx, "loss", "buckets") or []
        return [f"{b['from']}–{b['to']}" for b in buckets]

    @property
    def passed(self) -> bool | None:
        """The gate verdict: True, False, or None for the reference (nothing to gate)."""
        return None if self.gates is None else bool(self.gates["pass"])


_FIELDS = {f.name for f in dataclasses.fields(EvalResult)}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """What a run produced: results.json, read back by `kizami report` and the bundles."""

    recipe: dict[str, Any]
    calibration: dict[str, Any] | None
    results: dict[str, EvalResult]
    failures: dict[str, str] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)  # where and when each step ran (``kizami.run.pipeline.make_schedule``)

    @property
    def reference(self) -> EvalResult | None:
        return self.results.get("bf16")

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "calibration": self.calibration,
                "results": {n: r.to_dict() for n, r in self.results.items()}, "failures": self.failures,
                **({"schedule": self.schedule} if self.schedule else {})}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        return cls(recipe=data["recipe"], calibration=data.get("calibration"), failures=data.get("failures", {}),
                   schedule=data.get("schedule") or {}, results={n: EvalResult.from_dict(r) for n, r in data["results"].items()})
