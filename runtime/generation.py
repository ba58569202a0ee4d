"""Many generations through a backend in batches, journaled as they finish, with tokens/s on the progress line.

The metrics that generate (FIM exact match, HumanEval, infilling) hand all their requests to ``generate_all``; it gives
the backend ``CHUNK`` requests per ``generate`` call (the backend runs them ``batch_size`` at a time), appends each
chunk's texts to the journal, so an interrupted evaluation loses at most one chunk, and reports the rate.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kizami.core.progress import Advance, no_advance
from kizami.runtime.backend import Backend, GenRequest
from kizami.runtime.decoding import token_listener

__all__ = ["CHUNK", "Job", "generate_all", "read_journal"]

CHUNK = 64  # requests per backend call: several batches, and at most this many lost to a crash


@dataclass(frozen=True, slots=True)
class Job:
    key: tuple[str, int, str]  # (mode, index or sample, task name): the journal's key
    request: GenRequest | None  # None: the prompt does not fit; counted, not run


def read_journal(journal: Path | None) -> dict[tuple[str, int, str], str]:
    """Texts a previous, interrupted pass wrote; a torn last line (killed mid-write) is ignored."""
    done: dict[tuple[str, int, str], str] = {}
    if journal is None or not Path(journal).is_file():
        return done
    with open(journal, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                row = json.loads(line)
                done[(row["mode"], int(row["i"]), row["name"])] = str(row["generated"])
            except (ValueError, KeyError, TypeError):
                continue
    return done


def generate_all(backend: Backend, jobs: Sequence[Job], *, journal: Path | None = None,
                 progress: Advance = no_advance) -> tuple[list[str | None], dict[str, Any]]:
    """One text per job (None where the prompt does not fit), and stats: how many were generated and read back from
    the journal, the new tokens, the wall time of the generate calls and the tokens/s it gives, the batch size asked
    for (0 = automatic) and the most sequences the backend ran at once."""
    done = read_journal(journal)
    texts: list[str | None] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        if job.request is not None and job.key in done:
            texts[i] = done[job.key]
        elif job.request is not None:
            todo.append(i)
    skipped = len(jobs) - len(todo)
    if skipped:
        progress(skipped)
    stats: dict[str, Any] = {"generated": len(todo), "from_journal": sum(j.request is not None for j in jobs) - len(todo),
                             "new_tokens": 0, "seconds": 0.0, "batch_size": getattr(backend, "batch_size", None),
                             "ran_at_once": 0}
    with open(journal, "a", encoding="utf-8") if journal else contextlib.nullcontext() as fh:
        for at in range(0, len(todo), CHUNK):
            chunk = todo[at:at + CHUNK]
            t0 = time.perf_counter()
            live = [stats["new_tokens"], 0]  # tokens so far, this chunk's sequences already counted as done

            def listen(new_tokens: int, finished: int, t0: float = t0, live: list[int] = live) -> None:
                live[0] += new_tokens
                live[1] += finished
                progress(finished, _rate(live[0], stats["seconds"] + time.perf_counter() - t0))

            reset = token_listener.set(listen)
            try:
                gens = backend.generate([r for i in chunk if (r := jobs[i].request) is not None])
            finally:
                token_listener.reset(reset)
            stats["seconds"] += time.perf_counter() - t0
            stats["ran_at_once"] = max(stats["ran_at_once"], getattr(backend, "last_batch", 1))
            for i, gen in zip(chunk, gens):
                texts[i] = gen.text
                stats["new_tokens"] += len(gen.ids)  # the answers' own counts (a retried batch re-counted restarts)
                if fh:
                    mode, index, name = jobs[i].key
                    fh.write(json.dumps({"mode": mode, "i": index, "name": name, "generated": gen.text},
                                        ensure_ascii=False) + "\n")
            if fh:
                fh.flush()
            progress(len(chunk) - min(live[1], len(chunk)), _rate(stats["new_tokens"], stats["seconds"]))
    stats["seconds"] = round(stats["seconds"], 4)
    stats["tok_s"] = round(stats["new_tokens"] / stats["seconds"], 2) if stats["seconds"] else None
    return texts, stats


def _rate(tokens: int, seconds: float) -> str:
    return f"{tokens:,} tokens · {tokens / max(seconds, 1e-9):,.1f} tok/s"
