"""Read the documents of a calibration source: shipped files, local folders and files, JSONL, hub datasets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from kizami.calib_data.recipe import Source
from kizami.core.errors import CalibError

log = logging.getLogger(__name__)

__all__ = ["Document", "read_source", "builtin_root", "iter_jsonl"]

_MAX_DOC_BYTES = 2_000_000


@dataclass(frozen=True, slots=True)
class Document:
    source: str
    doc_id: str  # stable within the source: relative path, or "file.jsonl:line"
    text: str


def builtin_root() -> Path:
    return Path(str(resources.files("kizami.calib_data") / "builtin"))


def _read_text(path: Path) -> str | None:
    if path.stat().st_size > _MAX_DOC_BYTES:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # binary or not UTF-8: not text we calibrate on


def _read_folder(src: Source, root: Path) -> list[Document]:
    docs, skipped = [], []
    for path in sorted(p for p in root.rglob(src.glob) if p.is_file() and not p.name.startswith(".")
                       and "__pycache__" not in p.relative_to(root).parts):  # what an installer byte-compiles
        text = _read_text(path)
        if text is None:
            skipped.append(path.name)
        elif text.strip():
            docs.append(Document(src.name, path.relative_to(root).as_posix(), text))
    if skipped:
        log.warning("source %r: skipped %d binary, non-UTF-8 or oversized file(s): %s", src.name, len(skipped),
                    ", ".join(skipped[:5]) + (" …" if len(skipped) > 5 else ""))
    return docs


def iter_jsonl(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; anything that is not a JSON object per line is a CalibError."""
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CalibError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise CalibError(f"{path}:{lineno}: expected a JSON object ({what})")
                yield lineno, row
    except UnicodeDecodeError:
        raise CalibError(f"{path}: not UTF-8 text; expected JSON lines ({what})") from None


def _read_jsonl(src: Source, path: Path) -> list[Document]:
    docs = []
    for lineno, row in iter_jsonl(path, f"with a string field {src.field!r}"):
        if not isinstance(row.get(src.field), str):
            raise CalibError(f"{path}:{lineno}: no string field {src.field!r} "
                             f"(set `field = \"...\"` in the recipe's source {src.name!r})")
        if row[src.field].strip():
            docs.append(Document(src.name, f"{path.name}:{lineno}", row[src.field]))
    return docs


def _read_hub(src: Source) -> list[Document]:
    dataset, _, config = src.path.removeprefix("hf:").partition(":")
    try:
        import datasets  # optional: only for hub sources
    except ImportError:
        raise CalibError(f"source {src.name!r} reads {src.path} and needs `pip install datasets`") from None
    try:
        rows = datasets.load_dataset(dataset, config or None, split=src.split, streaming=True)
        return [Document(src.name, f"{dataset}:{i}", row[src.field]) for i, row in enumerate(rows) if row.get(src.field)]
    except Exception as exc:  # the hub client raises many types; all mean "cannot read it here"
        raise CalibError(f"source {src.name!r}: could not read {src.path} ({type(exc).__name__}); "
                         "is the hub reachable? Offline, use local folders or JSONL files") from None


def read_source(src: Source, base_dir: Path) -> list[Document]:
    if src.path.startswith("hf:"):
        docs = _read_hub(src)
    else:
        path = builtin_root() / src.path.removeprefix("builtin:") if src.path.startswith("builtin:") else base_dir / src.path
        path = path.expanduser()
        if path.is_dir():
            docs = _read_folder(src, path)
        elif path.is_file() and path.suffix == ".jsonl":
            docs = _read_jsonl(src, path)
        elif path.is_file():
            text = _read_text(path)
            docs = [Document(src.name, path.name, text)] if text and text.strip() else []
        else:
            raise CalibError(f"source {src.name!r}: {src.path} does not exist (resolved to {path})")
    if not docs:
        raise CalibError(f"source {src.name!r}: no readable UTF-8 text in {src.path}")
    return docs
