"""kizami's run of onnxruntime-genai's builder (mapped weights, one MatMul quantized at a time) writes the same model
as the builder's own command line, node for node and byte for byte (the rotary tables, the builder's own float
arithmetic, within 1e-3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper


def _build(module: str, source: Path, out: Path, precision: str, *extra: str) -> None:
    cmd = [sys.executable, "-m", module, "-i", str(source), "-o", str(out), "-p", precision, "-e", "cpu",
           "-c", str(out.parent / f"cache-{out.name}"), "--extra_options", "hf_token=false", *extra]
    subprocess.run(cmd, check=True, capture_output=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


_ROTARY_TABLES = ("cos_cache", "sin_cache")


def _largest_difference(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"{a.dtype}{list(a.shape)} against {b.dtype}{list(b.shape)}"
    return f"largest difference {np.abs(a.astype(np.float64) - b.astype(np.float64)).max():.3g}"


def _contents(folder: Path) -> tuple[list[tuple], dict[str, np.ndarray], str]:
    model = onnx.load(str(folder / "model.onnx"), load_external_data=True)
    nodes = [(n.op_type, n.domain, n.name, list(n.input), list(n.output),
              sorted((a.name, repr(onnx.helper.get_attribute_value(a))) for a in n.attribute)) for n in model.graph.node]
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return nodes, weights, (folder / "genai_config.json").read_text()


@pytest.mark.parametrize(("precision", "extra"), [
    ("int4", ("accuracy_level=4", "block_size=32")),                                           # lm_head int4 too
    ("int8", ("accuracy_level=4", "block_size=64", "nodes_to_exclude=/lm_head/MatMul")),      # lm_head left float
])
def test_streamed_builder_writes_the_builders_model(standin: Path, tmp_path: Path, precision: str,
                                                    extra: tuple[str, ...]) -> None:
    _build("onnxruntime_genai.models.builder", standin, tmp_path / "builder", precision, *extra)
    _build("kizami.export._onnx_stream", standin, tmp_path / "streamed", precision, *extra)
    nodes, weights, genai = _contents(tmp_path / "builder")
    s_nodes, s_weights, s_genai = _contents(tmp_path / "streamed")
    assert s_nodes == nodes and s_genai == genai
    assert sum(op == "MatMulNBits" for op, *_ in nodes) == (21 if precision == "int4" else 20)
    assert s_weights.keys() == weights.keys()
    # The rotary tables are the builder's own float arithmetic, which the stream does not touch; on one CI machine the
    # streamed process's cos table was off by up to 1.5e-4 (never on this one), so they are held to 1e-3: a wrong
    # frequency shows at the table's last rows as an error of order one.
    for name in _ROTARY_TABLES:
        np.testing.assert_allclose(s_weights[name], weights[name], rtol=0, atol=1e-3, err_msg=name)
    differ = {name: _largest_difference(s_weights[name], w) for name, w in weights.items()
              if name not in _ROTARY_TABLES and not (s_weights[name].dtype == w.dtype
                                                     and np.array_equal(s_weights[name], w))}
    assert not differ, f"{len(differ)} of {len(weights)} initializers differ: {differ}"
    assert not any(name.endswith("proj.weight") for name in s_weights)  # no float weight left behind


def test_mapped_safetensors_are_the_stored_tensors(standin: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from kizami.export._onnx_stream import mapped_safetensors

    mapped = mapped_safetensors(standin / "model.safetensors")
    stored = load_file(standin / "model.safetensors")
    assert mapped.keys() == stored.keys() and len(mapped) > 10
    for name, t in mapped.items():
        assert t.dtype == stored[name].dtype and torch.equal(t, stored[name]), name
