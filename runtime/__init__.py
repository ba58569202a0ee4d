"""Open any kizami build (or a plain HF checkpoint) through one Backend protocol.

Engines register lazily (``kizami.runtime.backends.engines``), so importing this package loads none of them. Which
backend opens a build, and how a build is checked before long work, is the build format's business
(``kizami.formats``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kizami.core import manifest
from kizami.core.errors import BackendUnavailable, KizamiError, ManifestError
from kizami.formats import formats, get_format
from kizami.runtime.backends import engines

if TYPE_CHECKING:
    from kizami.runtime.backend import Backend

__all__ = ["engines", "open_build", "build_format", "check_build"]



def build_format(path: Path) -> str:
    """The build's format from its manifest; a plain HF checkpoint folder (config.json, no manifest) is ``hf``."""
    path = Path(path)
    if (path / manifest.MANIFEST_NAME).is_file():
        return manifest.load(path).format
    if (path / "config.json").is_file():
        return "hf"
    if not path.exists():
        raise KizamiError(f"{path} does not exist")
    raise KizamiError(f"{path} is neither a kizami build (kizami.json) nor a Hugging Face checkpoint (config.json)")


def open_build(path: Path, *, device: str = "cpu", threads: int | None = None, backend: str | None = None,
               **options: Any) -> Backend:
    """Open a build for ``device``. A build with a manifest is verified first and refused if any file differs.

    ``options`` go to the engine (e.g. ``dtype`` for torch, ``gpu_layers`` for llama.cpp, ``allow_pickle``).
    """
    fmt = check_build(path, allow_pickle=bool(options.get("allow_pickle")))
    name = backend or get_format(fmt).backend
    try:
        cls = engines.get(name)
    except ImportError as exc:
        raise BackendUnavailable(f"the {name} backend needs {exc.name or 'a missing package'}; run `kizami doctor`") from None
    opened: Backend = cls(Path(path), device=device, threads=threads, **options)
    return opened


def check_build(path: Path, *, allow_pickle: bool = False) -> str:
    """The cheap checks a build must pass before any long work: its files match its manifest and its headers parse
    (safetensors, GGUF, genai_config.json). Returns the build's format; raises with the problem and the fix."""
    path = Path(path)
    fmt = build_format(path)
    if (path / manifest.MANIFEST_NAME).is_file():
        problems = manifest.verify(path)
        if problems:
            listing = "; ".join(f"{p.file}: {p.issue}" for p in problems[:5])
            raise ManifestError(f"{path} does not match its manifest ({listing}); rebuild it or run `kizami verify {path}`")
    if fmt not in formats:
        raise KizamiError(f"{path} is a {fmt!r} build, not a model; known formats: {', '.join(formats.names())}")
    get_format(fmt).check(path, allow_pickle=allow_pickle)
    return fmt
