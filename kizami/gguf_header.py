"""A small, strict reader of GGUF headers and key-value metadata (no tensor data), used to verify builds.

Neutral ground: the exporter writes GGUF files, the llama.cpp backend and the build checks read them.

Written against the GGUF v2/v3 layout: magic ``GGUF``, version, tensor count, KV count, then typed key-value pairs.
Any malformed input raises ``GGUFError`` (a ``KizamiError``); nothing else escapes.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from kizami.errors import KizamiError

__all__ = ["GGUFError", "read_metadata", "gguf_file"]

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_STRING = 64 << 20  # a chat template or token list entry is far below this
_MAX_ITEMS = 1 << 24  # vocabularies are ~1e5-1e6 entries
_MAX_KV = 1 << 16


class GGUFError(KizamiError):
    pass


def _read(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise GGUFError(f"{getattr(fh, 'name', 'GGUF')}: truncated (wanted {n} bytes at offset {fh.tell()})")
    return data


def _unpack(fh: BinaryIO, fmt: str) -> Any:
    return struct.unpack(fmt, _read(fh, struct.calcsize(fmt)))[0]


def _string(fh: BinaryIO) -> str:
    n = _unpack(fh, "<Q")
    if n > _MAX_STRING:
        raise GGUFError(f"string of {n} bytes is implausible; the file is damaged")
    try:
        return _read(fh, n).decode("utf-8")
    except UnicodeDecodeError:
        raise GGUFError("a metadata string is not UTF-8; the file is damaged") from None


def _value(fh: BinaryIO, vtype: int, depth: int = 0) -> Any:
    if vtype in _SCALARS:
        return _unpack(fh, _SCALARS[vtype])
    if vtype == _STRING:
        return _string(fh)
    if vtype == _ARRAY and depth == 0:
        itype, n = _unpack(fh, "<I"), _unpack(fh, "<Q")
        if n > _MAX_ITEMS:
            raise GGUFError(f"array of {n} items is implausible; the file is damaged")
        if itype in _SCALARS:  # read fixed-size arrays in one go
            size = struct.calcsize(_SCALARS[itype])
            return list(struct.unpack(f"<{n}{_SCALARS[itype][1]}", _read(fh, size * n)))
        return [_value(fh, itype, depth + 1) for _ in range(n)]
    raise GGUFError(f"unknown GGUF value type {vtype}")


def read_metadata(path: Path) -> dict[str, Any]:
    """All key-value metadata of a GGUF file, plus ``__version__`` and ``__tensor_count__``."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            if _read(fh, 4) != b"GGUF":
                raise GGUFError(f"{path}: not a GGUF file (bad magic)")
            version = _unpack(fh, "<I")
            if version not in (2, 3):
                raise GGUFError(f"{path}: GGUF version {version} is not supported (2 or 3)")
            n_tensors, n_kv = _unpack(fh, "<Q"), _unpack(fh, "<Q")
            if n_kv > _MAX_KV:
                raise GGUFError(f"{path}: {n_kv} metadata entries is implausible; the file is damaged")
            meta: dict[str, Any] = {"__version__": version, "__tensor_count__": n_tensors}
            for _ in range(n_kv):
                key = _string(fh)
                meta[key] = _value(fh, _unpack(fh, "<I"))
            return meta
    except OSError as exc:
        raise GGUFError(f"{path}: cannot read ({exc.strerror})") from None


def gguf_file(path: Path) -> Path:
    """The GGUF file of a build folder (the first shard of a split model; llama.cpp finds the rest), or ``path``."""
    path = Path(path)
    if path.is_file():
        return path
    files = sorted(path.glob("*.gguf"))
    if not files:
        raise GGUFError(f"{path} holds no .gguf file")
    return files[0]
