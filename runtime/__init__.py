"""Open any kizami build (or a plain HF checkpoint) through one Backend protocol.

Engines register lazily (``"module:Class"``) so importing this package loads none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kizami.errors import BackendUnavailable, KizamiError, ManifestError
from kizami.registry import Registry

if TYPE_CHECKING:
    from kizami.runtime.backend import Backend

__all__ = ["backends", "FORMAT_BACKEND", "open_build", "build_format", "check_build"]

backends: Registry[type] = Registry("backend")
backends.register("torch", "kizami.runtime.torch_backend:TorchBackend")
backends.register("llama-cpp", "kizami.runtime.llamacpp_backend:LlamaCppBackend")
backends.register("onnx", "kizami.runtime.onnx_backend:OnnxBackend")

# Which backend opens a build of each manifest format. A new format adds one line here and one file.
FORMAT_BACKEND = {"hf": "torch", "gptq": "torch", "awq": "torch", "gguf": "llama-cpp", "onnx": "onnx"}


def build_format(path: Path) -> str:
    """The build's format from its manifest; a plain HF checkpoint folder (config.json, no manifest) is ``hf``."""
    from kizami import manifest

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
    name = backend or FORMAT_BACKEND.get(fmt)
    if name is None:
        raise KizamiError(f"{path}: no backend opens {fmt!r} builds; known formats: {', '.join(sorted(FORMAT_BACKEND))}")
    try:
        cls = backends.get(name)
    except ImportError as exc:
        raise BackendUnavailable(f"the {name} backend needs {exc.name or 'a missing package'}; run `kizami doctor`") from None
    return cls(Path(path), device=device, threads=threads, **options)


def check_build(path: Path, *, allow_pickle: bool = False) -> str:
    """The cheap checks a build must pass before any long work: its files match its manifest and its headers parse
    (safetensors, GGUF, genai_config.json). Returns the build's format; raises with the problem and the fix."""
    import json

    from kizami import manifest
    from kizami.checkpoint import check_hf_dir

    path = Path(path)
    fmt = build_format(path)
    if (path / manifest.MANIFEST_NAME).is_file():
        problems = manifest.verify(path)
        if problems:
            listing = "; ".join(f"{p.file}: {p.issue}" for p in problems[:5])
            raise ManifestError(f"{path} does not match its manifest ({listing}); rebuild it or run `kizami verify {path}`")
    if fmt in ("hf", "gptq", "awq"):
        check_hf_dir(path, allow_pickle=allow_pickle)
    elif fmt == "gguf":
        from kizami.export.gguf_meta import read_metadata
        from kizami.runtime.llamacpp_backend import gguf_file

        read_metadata(gguf_file(path))
    elif fmt == "onnx":
        try:
            cfg = json.loads((path / "genai_config.json").read_text(encoding="utf-8"))
            model_file = cfg["model"]["decoder"]["filename"]
        except FileNotFoundError:
            raise KizamiError(f"{path} has no genai_config.json; re-export the build with `kizami export onnx`") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KizamiError(f"{path}/genai_config.json is unreadable ({type(exc).__name__}: {exc}); re-export the "
                              "build with `kizami export onnx`") from None
        if not isinstance(model_file, str) or not (path / model_file).is_file():
            raise KizamiError(f"{path}: genai_config.json names model file {model_file!r}, which is not there")
    return fmt
