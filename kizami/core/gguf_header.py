"""A small, strict reader of GGUF headers and key-value metadata (no tensor data), used to verify builds.

Neutral ground: the exporter writes GGUF files, the llama.cpp backend and the build checks read them.

Written against the GGUF v2/v3 layout: magic ``GGUF``, version, tensor count, KV count, then typed key-value pairs.
Any malformed input raises ``GGUFError`` (a ``KizamiError``); nothing else escapes.
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kizami.core.constants import FILE_TYPE_BITS, GGML_TYPES, TENSOR_TYPES  # re-exported: older imports keep working
from kizami.core.errors import KizamiError

__all__ = ["GGUFError", "GGML_TYPES", "TENSOR_TYPES", "FILE_TYPE_BITS", "nominal_bits", "TensorInfo", "read_metadata",
           "read_tensors", "gguf_file"]

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
    return _read_header(Path(path), tensors=False)[0]


def nominal_bits(file_type: str) -> int | None:
    """The bits a type's name says (``q4_k_m`` -> 4, ``bf16`` -> 16), as model cards tag them."""
    digits = "".join(itertools.takewhile(str.isdigit, file_type.lstrip("abcdefghijklmnopqrstuvwxyz")))
    return int(digits) if digits else None


@dataclass(frozen=True, slots=True)
class TensorInfo:
    shape: tuple[int, ...]  # ggml order: ne[0] (the row length) first
    type: str  # ggml type name, e.g. q4_k; "type<N>" for a type kizami does not know
    n_bytes: int  # 0 for an unknown type

    @property
    def n_weights(self) -> int:
        return math.prod(self.shape)


def read_tensors(path: Path) -> dict[str, TensorInfo]:
    """Name -> shape, type and stored size of every tensor in one GGUF file (its header only)."""
    return _read_header(Path(path), tensors=True)[1]


def _read_header(path: Path, *, tensors: bool) -> tuple[dict[str, Any], dict[str, TensorInfo]]:
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
            infos: dict[str, TensorInfo] = {}
            for _ in range(n_tensors if tensors else 0):
                name, n_dims = _string(fh), _unpack(fh, "<I")
                if n_dims > 8:
                    raise GGUFError(f"{path}: tensor {name!r} has {n_dims} dimensions; the file is damaged")
                shape = tuple(_unpack(fh, "<Q") for _ in range(n_dims))
                type_id, _offset = _unpack(fh, "<I"), _unpack(fh, "<Q")
                tname, block, block_bytes = GGML_TYPES.get(type_id, (f"type{type_id}", 0, 0))
                n_bytes = math.prod(shape) // block * block_bytes if block else 0
                infos[name] = TensorInfo(shape, tname, n_bytes)
            return meta, infos
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
