"""Fill-in-the-middle tasks in the SantaCoder-FIM JSONL format: read any such file, and make tasks from held-out code.

A task is ``{"name", "language", "prompt", "suffix", "canonical_solution"}``: the model sees the prompt (prefix) and
the suffix and must write the middle, here one whole line. kizami adds an optional ``"kind"``: ``code`` or
``ja-comment`` (a line that is a Japanese comment).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from kizami.calib_data.sources import iter_jsonl
from kizami.core.errors import CalibError

__all__ = ["FimTask", "read_tasks", "write_tasks", "make_tasks"]

_REQUIRED = ("name", "language", "prompt", "suffix", "canonical_solution")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_COMMENT = re.compile(r"^\s*(#|//|--|/?\*|!|;|\*>)")
_WORDISH = re.compile(r"[A-Za-z0-9_\u3040-\u30ff\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class FimTask:
    name: str
    language: str
    prompt: str
    suffix: str
    canonical_solution: str
    kind: str = "code"


def read_tasks(path: Path) -> list[FimTask]:
    """Read a SantaCoder-FIM JSONL file (also HumanEval single-line infilling converted to it)."""
    path = Path(path)
    if not path.is_file():
        raise CalibError(f"FIM task file {path} not found; give a SantaCoder-FIM JSONL file")
    tasks = []
    for lineno, row in iter_jsonl(path, f"SantaCoder-FIM rows need {', '.join(_REQUIRED)}"):
        missing = [k for k in _REQUIRED if not isinstance(row.get(k), str)]
        if missing:
            raise CalibError(f"{path}:{lineno}: missing or non-string field(s) {missing}; "
                             f"SantaCoder-FIM rows need {', '.join(_REQUIRED)}")
        kind = row.get("kind", "code")
        tasks.append(FimTask(**{k: row[k] for k in _REQUIRED}, kind=kind if isinstance(kind, str) else "code"))
    if not tasks:
        raise CalibError(f"{path}: no FIM tasks in the file")
    return tasks


def write_tasks(tasks: Iterable[FimTask], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for task in tasks:
            fh.write(json.dumps(asdict(task), ensure_ascii=False) + "\n")


def _line_kind(line: str) -> str | None:
    """``code`` or ``ja-comment`` for a line worth infilling, else None."""
    body = line.strip()
    if not 6 <= len(body) <= 100 or len(_WORDISH.findall(body)) < 3:
        return None
    if _COMMENT.match(body):
        return "ja-comment" if _JAPANESE.search(body) else None
    return "code"


def _clip_prefix(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    return cut[cut.find("\n") + 1:] if "\n" in cut else cut


def _clip_suffix(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[: cut.rfind("\n") + 1] if "\n" in cut else cut


def make_tasks(docs: Sequence[tuple[str, str, str]], *, per_language: int, seed: int,
               ja_comment_share: float = 0.25, max_prefix_chars: int = 1200, max_suffix_chars: int = 400) -> list[FimTask]:
    """Single-line infilling tasks from ``(language, doc_id, text)`` held-out code documents.

    Up to ``per_language`` lines per language, about ``ja_comment_share`` of them Japanese comment lines.
    The middle is one whole line; the suffix starts with the newline that ended it.
    """
    rng = random.Random(seed)
    by_lang: dict[str, dict[str, list[tuple[str, str, int]]]] = {}
    for language, doc_id, text in docs:
        lines = text.split("\n")
        for i, line in enumerate(lines[1:-1], 1):
            if kind := _line_kind(line):
                by_lang.setdefault(language, {"code": [], "ja-comment": []})[kind].append((doc_id, text, i))
    tasks = []
    for language in sorted(by_lang):
        pools = by_lang[language]
        n_ja = min(len(pools["ja-comment"]), round(per_language * ja_comment_share))
        picks = [("ja-comment", c) for c in rng.sample(pools["ja-comment"], n_ja)]
        picks += [("code", c) for c in rng.sample(pools["code"], min(len(pools["code"]), per_language - n_ja))]
        for kind, (doc_id, text, i) in picks:
            lines = text.split("\n")
            prefix = "\n".join(lines[:i]) + "\n"
            suffix = "\n" + "\n".join(lines[i + 1:])
            tasks.append(FimTask(
                name=f"{language}/{doc_id}#L{i + 1}", language=language,
                prompt=_clip_prefix(prefix, max_prefix_chars), suffix=_clip_suffix(suffix, max_suffix_chars),
                canonical_solution=lines[i], kind=kind,
            ))
    return tasks
