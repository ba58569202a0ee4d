"""Build manifests (``kizami.json``): what a build is, where it came from, and every file's sha256.

A build is written into a staging folder beside its destination and renamed into place only when complete,
so a crash never leaves a folder that looks finished. ``verify`` checks a folder against its manifest.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from kizami import __version__
from kizami.core.errors import ManifestError

__all__ = [
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "WEIGHT_SUFFIXES",
    "Manifest",
    "Problem",
    "sha256_file",
    "checkpoint_digest",
    "library_versions",
    "staged_build",
    "check_free_space",
    "remove_dead_stages",
    "scratch",
    "staging",
    "write_atomic",
    "is_current",
    "load",
    "verify",
]

MANIFEST_NAME = "kizami.json"
SCHEMA_VERSION = 1
_STAGING_PREFIX = ".kizami-staging-"
_TRACKED_LIBRARIES = (
    "torch", "transformers", "tokenizers", "safetensors", "gptqmodel", "optimum",
    "llama-cpp-python", "onnxruntime", "onnxruntime-gpu", "onnxruntime-genai", "onnxruntime-genai-cuda",
)
# Files that hold weights: one list for the checkpoint digest and for the size metric (ONNX external data is
# ``*.onnx.data`` from the builder, ``*.data`` from other exporters; ``.bin`` is a pickle checkpoint's).
WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".onnx", ".data", ".bin")


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_digest(model_dir: Path) -> dict[str, Any]:
    """Identify a source checkpoint by the sha256 of each weight file and one digest over them all."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ManifestError(f"{model_dir} does not exist or is not a folder")
    weights = sorted(p for p in model_dir.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if not weights:
        raise ManifestError(f"{model_dir}: no weight files (*.safetensors, *.gguf, *.onnx) found; is this a model folder?")
    per_file = {p.name: _weights_sha256(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in weights}
    combined = hashlib.sha256("".join(f"{k}={v}\n" for k, v in per_file.items()).encode()).hexdigest()
    return {"path": str(model_dir.resolve()), "sha256": combined, "weights": per_file}


@functools.lru_cache(maxsize=256)
def _weights_sha256(path: str, size: int, mtime_ns: int) -> str:
    """A source checkpoint is hashed once per process: every step of a run names it (16 GB for an 8B)."""
    return sha256_file(Path(path))


def library_versions() -> dict[str, str]:
    found = {"kizami": __version__}
    for name in _TRACKED_LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    format: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] | None = None
    calibration: Mapping[str, Any] | None = None
    versions: Mapping[str, str] = field(default_factory=library_versions)
    created_at: str = ""
    files: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    @property
    def source_path(self) -> Path | None:
        """The checkpoint folder the build was made from, when it is still there."""
        path = (self.source or {}).get("path")
        return Path(path) if path and Path(path).is_dir() else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "format": self.format,
            "parameters": dict(self.parameters),
            "source": self.source,
            "calibration": self.calibration,
            "versions": dict(self.versions),
            "created_at": self.created_at,
            "files": {k: dict(v) for k, v in sorted(self.files.items())},
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "manifest") -> Manifest:
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: expected a JSON object, got {type(data).__name__}")
        if data.get("schema") != SCHEMA_VERSION:
            raise ManifestError(f"{where}: unsupported schema {data.get('schema')!r} (this kizami reads {SCHEMA_VERSION}); "
                                "upgrade kizami or rebuild")
        if not isinstance(data.get("format"), str) or not data["format"]:
            raise ManifestError(f"{where}: missing 'format'")
        files = data.get("files")
        if not isinstance(files, dict):
            raise ManifestError(f"{where}: 'files' must be an object of name -> {{size, sha256}}")
        for name, entry in files.items():
            if not (isinstance(entry, dict) and isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str)):
                raise ManifestError(f"{where}: file entry {name!r} needs an integer 'size' and a 'sha256'")
            _check_relative(name, where)
        for key in ("parameters", "versions", "extra"):
            if not isinstance(data.get(key, {}), dict):
                raise ManifestError(f"{where}: {key!r} must be an object")
        for key in ("source", "calibration"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise ManifestError(f"{where}: {key!r} must be an object or null")
        return cls(
            format=data["format"], parameters=data.get("parameters", {}), source=data.get("source"),
            calibration=data.get("calibration"), versions=data.get("versions", {}),
            created_at=str(data.get("created_at", "")), files=files, extra=data.get("extra", {}),
        )


def _check_relative(name: str, where: str) -> None:
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise ManifestError(f"{where}: file entry {name!r} must be a relative path inside the build")


def _hash_tree(root: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME:
            out[path.relative_to(root).as_posix()] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    return out


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name beside ``path`` and rename it: readers see the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _dead(pid: str) -> bool:
    """Whether the process ``pid`` (digits, from a folder's name) no longer runs on this machine."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        return False
    return False


def remove_dead_stages(out: Path) -> None:
    """Staging folders for ``out`` left by a process that no longer runs (killed, crashed) are never resumed from.

    The pid is looked up on this machine: in a Ray run another node's attempt at the same step is only ever started
    after Ray has seen the earlier one die, so a stage in a shared ``out`` whose pid is not running here is dead."""
    for stage in out.parent.glob(f"{_STAGING_PREFIX}{out.name}-*"):
        if _dead(stage.name.rsplit("-", 1)[-1]):
            shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def scratch(what: str) -> Iterator[Path]:
    """A temporary folder ``$TMPDIR/kizami-WHAT-PID-XXXX`` (offload folders, engine work files), removed when the block
    ends. A process killed by SIGKILL (or SIGTERM where Python's cleanup does not run: a Ray worker, an OOM kill)
    cannot remove its own; the next ``scratch`` of the same kind on this machine removes those whose process is gone
    (gigabytes at 8B: GPTQ/AWQ's offloaded layers)."""
    if not what.isalnum():
        raise ValueError(f"scratch kind {what!r} must be letters and digits")
    root = Path(tempfile.gettempdir())
    for old in root.glob(f"kizami-{what}-*-*"):
        if old.is_dir() and old.stat().st_uid == os.getuid() and _dead(old.name.split("-")[2]):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"kizami-{what}-{os.getpid()}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def staging(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder beside ``out``; when the block ends without error, rename it to ``out`` (an older
    ``out`` is replaced only then). On any exception the staging folder is removed and ``out`` is left as it was."""
    out = Path(out).absolute()  # engines write into the stage from their own working folders
    if out.exists() and not overwrite:
        raise ManifestError(f"{out} already exists; choose another -o or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_stages(out)
    stage = out.parent / f"{_STAGING_PREFIX}{out.name}-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        if out.exists():
            trash = out.parent / f"{_STAGING_PREFIX}{out.name}-old-{os.getpid()}"
            os.replace(out, trash)
            os.replace(stage, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


@contextlib.contextmanager
def staged_build(out: Path, manifest: Manifest, *, overwrite: bool = False) -> Iterator[Path]:
    """``staging``, plus: on success hash the stage's files and write the manifest before it is renamed to ``out``."""
    with staging(out, overwrite=overwrite) as stage:
        yield stage
        final = Manifest(**{**_fields(manifest), "files": _hash_tree(stage),
                            "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")})
        write_atomic(stage / MANIFEST_NAME, json.dumps(final.to_dict(), indent=2, ensure_ascii=False) + "\n")


def is_current(build: Path, parameters: Mapping[str, Any]) -> bool:
    """A build folder can be reused when its files verify and it was made with the same parameters."""
    try:
        return not verify(build) and load(build).parameters == json.loads(json.dumps(parameters, default=str))
    except ManifestError:
        return False


def check_free_space(folder: Path, need_bytes: int, what: str) -> None:
    """Refuse to start a large write that cannot finish: the estimate and what is free are in the message."""
    folder = Path(folder)
    probe = next((p for p in (folder, *folder.parents) if p.exists()), Path.cwd())
    free = shutil.disk_usage(probe).free
    if free < need_bytes:
        raise ManifestError(f"{what} needs about {need_bytes / 2**30:.2f} GiB free at {probe}, only "
                            f"{free / 2**30:.2f} GiB is; free some space or choose another -o")


def _fields(m: Manifest) -> dict[str, Any]:
    return {name: getattr(m, name) for name in m.__dataclass_fields__}


def load(build: Path) -> Manifest:
    build = Path(build)
    path = build / MANIFEST_NAME if build.is_dir() else build
    if not path.is_file():
        raise ManifestError(f"{build}: no {MANIFEST_NAME}; not a kizami build (or an unfinished one: rebuild it)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc}); the build is damaged, rebuild it") from None
    return Manifest.from_dict(data, where=str(path))


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    issue: str  # "missing" | "size" | "sha256" | "unlisted"
    detail: str = ""


def verify(build: Path, *, strict: bool = True) -> list[Problem]:
    """Check every file listed in the manifest; ``strict`` also flags files the manifest does not list."""
    build = Path(build)
    manifest = load(build)
    problems = []
    for name, entry in manifest.files.items():
        path = build / name
        if not path.is_file():
            problems.append(Problem(name, "missing"))
        elif path.stat().st_size != entry["size"]:
            problems.append(Problem(name, "size", f"{path.stat().st_size} bytes, manifest says {entry['size']}"))
        elif sha256_file(path) != entry["sha256"]:
            problems.append(Problem(name, "sha256", "content differs from the manifest"))
    if strict:
        listed = set(manifest.files)
        for path in sorted(build.rglob("*")):
            rel = path.relative_to(build).as_posix()
            if path.is_file() and rel != MANIFEST_NAME and rel not in listed:
                problems.append(Problem(rel, "unlisted", "not in the manifest"))
    return problems
