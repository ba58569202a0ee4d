"""Build a calibration set: read sources, de-duplicate, split off held-out documents, pack N samples x L tokens,
and write the evaluation sets (perplexity texts by domain, FIM tasks) from the held-out documents only.

Output folder (a kizami build of format ``calib``)::

    samples.jsonl     one calibration sample per line: source, domain, language, input_ids (BOS + L-1 tokens)
    calib.txt         the same samples as text (for tools that tokenize themselves, e.g. llama-imatrix)
    eval/ppl.jsonl    held-out documents: domain, source, doc_id, text
    eval/fim.jsonl    single-line FIM tasks from held-out code (SantaCoder-FIM format)
    kizami.json       manifest: recipe, per-source statistics, tokenizer sha256, set id (written by kizami.run.calib)
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kizami.calib_data.fim import FimTask, make_tasks, write_tasks
from kizami.calib_data.recipe import Recipe
from kizami.calib_data.sources import Document, read_source
from kizami.core.errors import CalibError
from kizami.core.tokenizer import load_tokenizer, tokenizer_digest

__all__ = ["CalibConfig", "CalibSet", "split_documents", "allocate", "load_documents", "make_calib", "calib_id"]

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibConfig:
    samples: int = 128
    seq_len: int = 512
    fim_per_language: int = 20
    version: int = 1

    def __post_init__(self) -> None:
        if self.samples < 1 or self.seq_len < 16:
            raise CalibError(f"need at least 1 sample of 16 tokens, got {self.samples} x {self.seq_len}; raise "
                             "--samples / --seq-len")


def _normalized_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def _rank(seed: int, doc: Document) -> str:
    return hashlib.sha256(f"{seed}:{doc.source}:{doc.doc_id}".encode()).hexdigest()


def split_documents(docs: list[Document], heldout: float, seed: int) -> tuple[list[Document], list[Document]]:
    """Deterministic split by a seeded hash of each document's id: (calibration, held-out). Never overlapping."""
    ranked = sorted(docs, key=lambda d: _rank(seed, d))
    k = max(1, round(len(ranked) * heldout)) if len(ranked) >= 2 else 0
    return ranked[k:], ranked[:k]


def allocate(total: int, shares: dict[str, float], capacity: dict[str, int]) -> dict[str, int]:
    """Samples per source: proportional to shares (largest remainder), capped by each source's capacity, with the
    shortfall moved to sources that still have room."""
    if sum(capacity.values()) < total:
        raise CalibError(f"the sources hold only {sum(capacity.values())} samples of this length, {total} asked; "
                         "add sources, or lower --samples / --seq-len")
    alloc = dict.fromkeys(shares, 0)
    remaining = total
    # a list in the recipe's order, never a set: ties in the remainders, and the float sum of the shares, must not
    # follow Python's per-process string hashing (two runs of one recipe made different calibration sets)
    active = [k for k in shares if capacity[k] > 0]
    while remaining > 0:
        weight = sum(shares[k] for k in active)
        exact = {k: remaining * shares[k] / weight for k in active}
        give = {k: min(int(exact[k]), capacity[k] - alloc[k]) for k in active}
        leftover = remaining - sum(give.values())
        for k in sorted(active, key=lambda k: exact[k] - int(exact[k]), reverse=True):  # stable: ties in recipe order
            if leftover == 0:
                break
            if alloc[k] + give[k] < capacity[k]:
                give[k] += 1
                leftover -= 1
        for k, n in give.items():
            alloc[k] += n
        remaining = total - sum(alloc.values())
        active = [k for k in active if alloc[k] < capacity[k]]
    return alloc


def load_documents(recipe: Recipe, progress: Progress = lambda _msg: None
                   ) -> tuple[dict[str, list[Document]], dict[str, list[Document]], dict[str, dict[str, Any]]]:
    """Read every source, drop duplicates (across sources, whitespace-normalized), split calibration / held-out."""
    seen: set[str] = set()
    calib_docs: dict[str, list[Document]] = {}
    heldout_docs: dict[str, list[Document]] = {}
    stats: dict[str, dict[str, Any]] = {}
    for src in recipe.sources:
        progress(f"reading {src.name}")
        docs = read_source(src, Path(recipe.base_dir))
        unique = []
        for doc in docs:
            key = _normalized_hash(doc.text)
            if key not in seen:
                seen.add(key)
                unique.append(doc)
        calib_docs[src.name], heldout_docs[src.name] = split_documents(unique, recipe.heldout, recipe.seed)
        doc_hash = hashlib.sha256("".join(_normalized_hash(d.text) for d in sorted(unique, key=lambda d: d.doc_id)).encode())
        stats[src.name] = {"domain": src.domain, "language": src.language, "license": src.license, "path": src.path,
                           "documents": len(unique), "duplicates_removed": len(docs) - len(unique),
                           "heldout_documents": len(heldout_docs[src.name]), "documents_sha256": doc_hash.hexdigest()}
    return calib_docs, heldout_docs, stats


def calib_id(recipe: Recipe, samples_sha: str) -> str:
    return f"{recipe.name}-{samples_sha[:12]}"


@dataclass(frozen=True, slots=True)
class CalibSet:
    """A calibration set in memory: what ``write`` puts into a folder, and what its manifest records."""

    samples_jsonl: str
    text: str  # the samples as text, for tools that tokenize themselves (llama-imatrix)
    heldout: list[dict[str, str]]  # held-out documents: domain, source, doc_id, text
    tasks: list[FimTask]
    parameters: dict[str, Any]
    source: dict[str, str]
    calibration: dict[str, str]
    extra: dict[str, Any]

    def write(self, folder: Path) -> None:
        (folder / "samples.jsonl").write_text(self.samples_jsonl, encoding="utf-8")
        (folder / "calib.txt").write_text(self.text, encoding="utf-8")
        (folder / "eval").mkdir(exist_ok=True)
        with open(folder / "eval" / "ppl.jsonl", "w", encoding="utf-8") as fh:
            for row in self.heldout:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        write_tasks(self.tasks, folder / "eval" / "fim.jsonl")


def make_calib(recipe: Recipe, tokenizer_dir: Path, cfg: CalibConfig = CalibConfig(), *,
               progress: Progress = lambda _msg: None) -> CalibSet:
    """Read, de-duplicate, split and pack the recipe's sources with the tokenizer in ``tokenizer_dir``."""
    tokenizer = load_tokenizer(tokenizer_dir)
    if tokenizer.bos_token_id is None:
        raise CalibError(f"the tokenizer in {tokenizer_dir} has no BOS token; kizami's samples start with BOS")
    calib_docs, heldout_docs, stats = load_documents(recipe, progress)
    progress("tokenizing")
    rng = random.Random(recipe.seed)
    body = cfg.seq_len - 1  # each sample is BOS + body tokens
    streams: dict[str, list[int]] = {}
    for name, docs in calib_docs.items():
        ordered = sorted(docs, key=lambda d: _rank(recipe.seed, d))
        streams[name] = tokenizer("\n\n".join(d.text for d in ordered), add_special_tokens=False)["input_ids"] if docs else []
        stats[name]["calib_tokens_available"] = len(streams[name])
    alloc = allocate(cfg.samples, recipe.shares(), {k: len(v) // body for k, v in streams.items()})

    sources = {s.name: s for s in recipe.sources}
    samples = []
    for name, count in alloc.items():
        chunks = sorted(rng.sample(range(len(streams[name]) // body), count))
        for c in chunks:
            samples.append({"source": name, "domain": sources[name].domain, "language": sources[name].language,
                            "input_ids": [tokenizer.bos_token_id, *streams[name][c * body:(c + 1) * body]]})
        stats[name].update(samples=count, tokens=count * cfg.seq_len, share_target=round(recipe.shares()[name], 4),
                           share_actual=round(count / cfg.samples, 4))

    samples_blob = "".join(json.dumps(s) + "\n" for s in samples)
    samples_sha = hashlib.sha256(samples_blob.encode()).hexdigest()
    code_heldout = [(sources[n].language, d.doc_id, d.text) for n, docs in heldout_docs.items()
                    if sources[n].domain == "code" for d in docs]
    tasks = make_tasks(code_heldout, per_language=cfg.fim_per_language, seed=recipe.seed)
    return CalibSet(
        samples_jsonl=samples_blob,
        text="\n\n".join(str(tokenizer.decode(list(s["input_ids"][1:]))) for s in samples) + "\n",
        heldout=[{"domain": sources[name].domain, "source": name, "doc_id": d.doc_id, "text": d.text}
                 for name, docs in heldout_docs.items() for d in docs],
        tasks=tasks,
        parameters={**asdict(cfg), "recipe": recipe.to_dict(), "recipe_sha256": recipe.digest()},
        source={"tokenizer": str(Path(tokenizer_dir).resolve()), "tokenizer_sha256": tokenizer_digest(tokenizer_dir)},
        calibration={"id": calib_id(recipe, samples_sha), "sha256": samples_sha},
        extra={"sources": stats, "fim_tasks": len(tasks),
               "heldout_documents": {d: sum(len(v) for n, v in heldout_docs.items() if sources[n].domain == d)
                                     for d in ("code", "ja", "en")}},
    )
