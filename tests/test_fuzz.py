"""Every parser of outside input, fed arbitrary input: it parses or raises kizami's own error, nothing else."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kizami.core.errors import KizamiError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                     max_leaves=20)


_ROOT = tempfile.TemporaryDirectory(prefix="kizami-fuzz-")  # removed at exit


def _write(name: str, data: bytes | str) -> Path:
    """Each parser gets its own folder holding just the one file, rewritten for every example."""
    folder = Path(_ROOT.name) / name.replace(".", "-")
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    return path


def _parses_or_kizami_error(fn, *args) -> None:
    try:
        fn(*args)
    except KizamiError:
        pass


@FUZZ
@given(st.dictionaries(st.sampled_from(["schema", "format", "files", "parameters", "source", "calibration", "versions",
                                        "extra", "created_at"]), _json) | _json)
def test_manifest(data) -> None:
    from kizami.core import manifest

    path = _write("kizami.json", json.dumps({"schema": 1, **data} if isinstance(data, dict) else data))
    _parses_or_kizami_error(manifest.load, path.parent)
    _parses_or_kizami_error(manifest.verify, path.parent)


@FUZZ
@given(st.text(max_size=300) | st.builds(lambda d: "\n".join(f"{k} = {json.dumps(v)}" for k, v in d.items()),
                                         st.dictionaries(st.sampled_from(["name", "model", "out", "bogus"]), _json)))
def test_run_recipe(text: str) -> None:
    from kizami.run.recipe import load_run_recipe

    _parses_or_kizami_error(load_run_recipe, _write("r.toml", text))


@FUZZ
@given(st.text(max_size=300))
def test_calibration_recipe(text: str) -> None:
    from kizami.calib_data.recipe import load_recipe

    _parses_or_kizami_error(load_recipe, _write("mix.toml", text))


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(["name", "language", "prompt", "suffix", "canonical_solution", "kind"]),
                                _json) | _json, max_size=4) | st.text(max_size=200).map(lambda t: [t]))
def test_fim_task_file(rows) -> None:
    from kizami.calib_data.fim import read_tasks

    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    _parses_or_kizami_error(read_tasks, _write("fim.jsonl", "\n".join(lines)))


@FUZZ
@given(st.binary(max_size=200), st.sampled_from([b"GGUF\x03\x00\x00\x00", b"GGUF", b""]))
def test_gguf_metadata(tail: bytes, head: bytes) -> None:
    from kizami.core.gguf_header import read_metadata

    _parses_or_kizami_error(read_metadata, _write("m.gguf", head + tail))


@FUZZ
@given(st.binary(max_size=120), st.integers(min_value=0, max_value=2**40))
def test_safetensors_header(body: bytes, declared: int) -> None:
    from kizami.core.checkpoint import count_parameters

    path = _write("model.safetensors", struct.pack("<Q", min(declared, len(body))) + body)
    _parses_or_kizami_error(count_parameters, path.parent)
