"""kizami's run of onnxruntime-genai's builder (mapped weights, one MatMul quantized at a time) writes the same model
as the builder's own command line, node for node and byte for byte."""

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
    for name, w in weights.items():
        assert s_weights[name].dtype == w.dtype and np.array_equal(s_weights[name], w), name
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
