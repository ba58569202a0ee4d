"""The yardstick every build is measured with: token ids and the bf16 reference's compact next-token distributions.

A ``Reference`` is made once from the reference model and an evaluation set (a calibration build's ``eval/``):

* **Perplexity windows.** Per domain (code, ja, en), the held-out documents are joined by a blank line and tokenized
  once by the source tokenizer, with one BOS at the start. Windows of ``ctx`` tokens advance by ``stride``; each window
  scores only tokens no earlier window scored, so every token after BOS is scored exactly once, and each (outside the
  first window) with at least ``ctx - stride`` tokens of context.
* **Compact reference distribution.** For each scored position the reference's top-``k`` token ids and log-probs are
  kept, not the full vocabulary (128k floats a position for the 8B). KL(P_ref || Q) is computed over the k tokens plus
  one "tail" bucket holding the rest of the mass. By the log-sum inequality this never exceeds the true KL; the gap is
  ``p_tail * KL(P_tail || Q_tail)`` of the renormalized tails, small when ``p_tail`` is small. The mean ``p_tail`` is
  reported next to every KLD so the bound is visible.
* **FIM prompts** tokenized by the source tokenizer exactly as the target's model card prescribes (see ``fim.py``).

It is saved as an ``.npz`` of plain arrays (loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kizami.calib_data.fim import FimTask
from kizami.core.errors import KizamiError

__all__ = ["Window", "plan_windows", "DomainRef", "PackedIds", "Reference"]

FORMAT_VERSION = 1
SCORE_CHUNK = 16  # windows per ``score_batch`` call (the backend splits them further to fit its memory)


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    end: int
    score_from: int  # stream positions [score_from, end) are scored in this window

    def rows(self) -> slice:
        """Rows of ``TokenScores`` (row i predicts position start+i+1) that this window scores."""
        return slice(self.score_from - self.start - 1, self.end - self.start - 1)


def plan_windows(n: int, ctx: int, stride: int) -> list[Window]:
    if not 0 < stride <= ctx - 1:
        raise KizamiError(f"stride must be between 1 and ctx-1 ({ctx - 1}), got {stride}")
    out, start, scored_to = [], 0, 1
    while scored_to < n:
        end = min(start + ctx, n)
        out.append(Window(start, end, scored_to))
        scored_to = end
        start += stride
    return out


class PackedIds(Sequence[list[int]]):
    """Token id lists stored as one int32 array and offsets: thousands of FIM prompts as Python lists of ints would
    cost ~30 bytes a token; packed, 4. Indexing gives a plain list."""

    __slots__ = ("ids", "offsets")

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        self.ids, self.offsets = np.asarray(ids, dtype=np.int32), np.asarray(offsets, dtype=np.int64)

    @classmethod
    def pack(cls, lists: Iterable[Sequence[int]]) -> PackedIds:
        lists = list(lists)
        return cls(np.fromiter((t for ids in lists for t in ids), dtype=np.int32),
                   np.cumsum([0, *map(len, lists)]).astype(np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        return self.ids[self.offsets[i]:self.offsets[i + 1]].tolist()


@dataclass(slots=True)
class DomainRef:
    text: str  # the held-out documents joined by a blank line (for the tokenizer parity check)
    stream: np.ndarray  # int32 token ids: BOS + the source tokenizer's ids of ``text``
    target: np.ndarray  # (P,) reference log p of each scored token
    top_ids: np.ndarray  # (P, k) int32
    top_lp: np.ndarray  # (P, k) float32


@dataclass(slots=True)
class Reference:
    ctx: int
    stride: int
    top_k: int
    domains: dict[str, DomainRef]
    fim_tasks: list[FimTask]
    fim_prompts: dict[str, PackedIds]  # mode ("psm" | "spm") -> token ids per task
    meta: dict[str, Any] = field(default_factory=dict)
    long_stream: np.ndarray | None = None  # int32: BOS + held-out code, for the long-context checks (when asked)

    def windows(self, domain: str) -> list[Window]:
        return plan_windows(len(self.domains[domain].stream), self.ctx, self.stride)

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {}
        for d, ref in self.domains.items():
            arrays |= {f"{d}.text": np.array(ref.text), f"{d}.stream": ref.stream, f"{d}.target": ref.target, f"{d}.top_ids": ref.top_ids,
                       f"{d}.top_lp": ref.top_lp}
        for mode, prompts in self.fim_prompts.items():
            packed = prompts if isinstance(prompts, PackedIds) else PackedIds.pack(prompts)
            arrays[f"fim.{mode}.ids"], arrays[f"fim.{mode}.offsets"] = packed.ids, packed.offsets
        meta = {"format": FORMAT_VERSION, "ctx": self.ctx, "stride": self.stride, "top_k": self.top_k,
                "domains": list(self.domains), "fim_modes": list(self.fim_prompts),
                "fim_tasks": [asdict(t) for t in self.fim_tasks], **self.meta}
        arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
        if self.long_stream is not None:
            arrays["longctx.stream"] = self.long_stream
        path = Path(path)
        tmp = path.with_name(path.name + ".partial.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Reference:
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != FORMAT_VERSION:
                    raise KizamiError(f"{path}: reference format {meta.get('format')} is not {FORMAT_VERSION}; rebuild it")
                domains = {d: DomainRef(str(z[f"{d}.text"]), z[f"{d}.stream"], z[f"{d}.target"], z[f"{d}.top_ids"], z[f"{d}.top_lp"])
                           for d in meta["domains"]}
                prompts = {m: PackedIds(z[f"fim.{m}.ids"], z[f"fim.{m}.offsets"]) for m in meta["fim_modes"]}
                long_stream = z["longctx.stream"] if "longctx.stream" in z.files else None
        except (OSError, ValueError, KeyError) as exc:
            raise KizamiError(f"{path}: not a readable kizami reference ({exc}); rebuild it with `kizami eval --ref MODEL`") from None
        tasks = [FimTask(**t) for t in meta.pop("fim_tasks")]
        return cls(ctx=meta.pop("ctx"), stride=meta.pop("stride"), top_k=meta.pop("top_k"), domains=domains,
                   fim_tasks=tasks, fim_prompts=prompts, meta=meta, long_stream=long_stream)

    @classmethod
    def build(cls, backend: Any, texts: Mapping[str, str], streams: Mapping[str, Sequence[int]], fim_tasks: list[FimTask],
              fim_prompts: Mapping[str, Iterable[Sequence[int]]], *, ctx: int, stride: int, top_k: int = 32,
              meta: dict[str, Any] | None = None, progress: Callable[[int], None] = lambda _n: None) -> Reference:
        domains = {}
        for d, ids_in in streams.items():
            stream = np.asarray(ids_in, dtype=np.int32)
            target, ids, lps = [], [], []
            windows = plan_windows(len(stream), ctx, stride)
            for at in range(0, len(windows), SCORE_CHUNK):
                chunk = windows[at:at + SCORE_CHUNK]
                for w, s in zip(chunk, backend.score_batch([stream[w.start:w.end].tolist() for w in chunk], top_k=top_k)):
                    rows = w.rows()
                    target.append(s.target[rows])
                    ids.append(s.top_ids[rows])
                    lps.append(s.top_logprobs[rows])
                progress(len(chunk))
            domains[d] = DomainRef(texts[d], stream, np.concatenate(target).astype(np.float32),
                                   np.concatenate(ids).astype(np.int32), np.concatenate(lps).astype(np.float32))
        return cls(ctx=ctx, stride=stride, top_k=top_k, domains=domains, fim_tasks=fim_tasks,
                   fim_prompts={m: PackedIds.pack(p) for m, p in fim_prompts.items()}, meta=meta or {})
