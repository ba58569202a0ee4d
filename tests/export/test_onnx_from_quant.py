"""ONNX int4 made from a GPTQ / AWQ build keeps the build's quantized weights exactly.

Layer by layer: every decoder MatMulNBits node, dequantized, equals its source layers dequantized (bit for bit in
float32), the lm_head stays a float MatMul, onnxruntime's MatMulNBits kernel reproduces those weights, and the
unpacking itself agrees with what gptqmodel's torch kernel computes (up to that kernel's bf16 scales).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kizami.core import manifest
from kizami.core.errors import KizamiError
from tests.engines import require

require("onnxruntime_genai")
require("gptqmodel")

from kizami.export.onnx import ONNXConfig, export_onnx  # noqa: E402
from kizami.export.onnx_quant import (  # noqa: E402
    LayerDiff,
    compare_layers,
    dequantize,
    onnx_layers,
    pack_matmulnbits,
    read_source,
    unpack_matmulnbits,
)

CALIB = {"samples": 32, "seq_len": 256, "threads": 2}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, standin: Path, calib_build: Path) -> dict[str, Path]:
    from kizami.quantize.awq import AWQConfig, quantize_awq
    from kizami.quantize.gptq import GPTQConfig, quantize_gptq

    out = tmp_path_factory.mktemp("from-quant")
    return {"gptq": quantize_gptq(standin, out / "gptq", GPTQConfig(**CALIB), calib=calib_build),
            "awq": quantize_awq(standin, out / "awq", AWQConfig(**CALIB), calib=calib_build)}


@pytest.fixture(scope="module")
def onnx_from(sources: dict[str, Path], standin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("onnx-from")
    return {k: export_onnx(standin, out / k, ONNXConfig(from_build=str(src))) for k, src in sources.items()}


@pytest.mark.parametrize("method", ["gptq", "awq"])
def test_matmulnbits_weights_equal_the_source_layer_by_layer(method: str, sources: dict[str, Path],
                                                             onnx_from: dict[str, Path], standin: Path) -> None:
    build = onnx_from[method]
    assert manifest.verify(build) == []
    diffs = list(compare_layers(sources[method], build / "model.onnx"))
    layers = [d for d in diffs if isinstance(d, LayerDiff)]
    n_layers = json.loads((standin / "config.json").read_text())["num_hidden_layers"]
    assert len(layers) == 5 * n_layers  # qkv (fused), o, gate, up, down
    assert [d for d in diffs if not isinstance(d, LayerDiff)] == []  # lm_head is not a MatMulNBits node
    worst = max(d.max_abs for d in layers)
    assert worst == 0.0, [(d.node, d.mismatched, d.max_abs) for d in layers if d.max_abs]  # measured: 0 in all 20
    assert {d.block_size for d in layers} == {128}  # the source's group size, not the builder's block_size 32
    check = manifest.load(build).extra["from_build_check"]
    assert check["layers"] == 5 * n_layers and check["max_abs_weight_diff"] == 0.0
    cfg = manifest.load(build).parameters["config"]
    assert cfg["lm_head"] == "source" and cfg["accuracy_level"] == 4
    learned = manifest.load(sources[method]).calibration
    assert learned and manifest.load(build).calibration == learned  # the integers' provenance travels with them


def test_lm_head_and_embeddings_stay_float(onnx_from: dict[str, Path]) -> None:
    import onnx

    graph = onnx.load(str(onnx_from["gptq"] / "model.onnx"), load_external_data=False).graph
    ops = {n.name: n.op_type for n in graph.node}
    assert ops.get("/lm_head/MatMul") == "MatMul" and ops.get("/model/embed_tokens/Gather") == "Gather"
    types = {i.name: i.data_type for i in graph.initializer}
    assert types["lm_head.MatMul.weight"] == onnx.TensorProto.FLOAT


def test_onnxruntime_kernel_computes_those_weights(onnx_from: dict[str, Path]) -> None:
    """Run one MatMulNBits node on the identity: its output is the weight matrix onnxruntime really uses."""
    import onnx
    import onnx_ir as ir
    import onnxruntime as ort
    from onnx import TensorProto, helper

    model = ir.load(str(onnx_from["awq"] / "model.onnx"))
    node = next(n for n in model.graph if n.name == "/model/layers.1/mlp/down_proj/MatMulNBits")
    inits = [v for v in node.inputs[1:] if v is not None]
    attrs = {k: a.value for k, a in node.attributes.items()}
    k = int(attrs["K"])
    (_, expected, _), = [x for x in onnx_layers(onnx_from["awq"] / "model.onnx") if x[0] == node.name]
    w = dequantize(expected)  # [N, K]
    for level in (0, 4):
        mm = helper.make_node("MatMulNBits", ["x", *[v.name for v in inits]], ["y"], domain="com.microsoft",
                              **{**attrs, "accuracy_level": level})
        graph = helper.make_graph([mm], "one", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [k, k])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                  [onnx.numpy_helper.from_array(v.const_value.numpy(), v.name) for v in inits])
        proto = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 21),
                                                                       helper.make_opsetid("com.microsoft", 1)])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        got = sess.run(None, {"x": np.eye(k, dtype=np.float32)})[0]  # = W^T
        rel = np.abs(got.T - w).max() / np.abs(w).max()
        # level 0: fp32 activations, measured ≈ 1e-7 (the kernel's float rounding); level 4 rounds the activations to
        # int8, which the identity (0 and 1) survives exactly up to the per-block activation scale
        assert rel < 1e-5, (level, rel)


@pytest.mark.parametrize("method", ["gptq", "awq"])
def test_unpacking_agrees_with_gptqmodels_torch_kernel(method: str, sources: dict[str, Path]) -> None:
    """An independent reading of the packed tensors: transformers + gptqmodel, fed the identity."""
    import torch
    from transformers import AutoModelForCausalLM

    _, layers = read_source(sources[method])
    with contextlib.redirect_stdout(io.StringIO()):
        hf = AutoModelForCausalLM.from_pretrained(str(sources[method]), dtype=torch.float16, local_files_only=True)
    worst = 0.0
    for name in ("model.layers.0.self_attn.q_proj", "model.layers.3.mlp.down_proj"):
        module = hf.get_submodule(name)
        with torch.inference_mode():
            torch_w = module(torch.eye(module.in_features, dtype=torch.float16)[None])[0].float().numpy().T
        w = dequantize(layers[name])
        worst = max(worst, float(np.linalg.norm(torch_w - w) / np.linalg.norm(w)))
    # gptqmodel's CPU kernel keeps scales and zeros in bf16: measured rel ≈ 0.0022-0.0024 against the stored fp16
    # scales; a wrong nibble order or zero offset gives > 0.1
    assert worst < 0.01, worst


def test_packing_round_trips_group_sizes_and_act_order() -> None:
    rng = np.random.default_rng(0)
    from kizami.export.onnx_quant import QuantLinear

    for group, blocks in ((64, 64), (256, 256), (768, 256)):  # 768: one group per row (-1) over K=768
        k, n = 768, 48
        q = rng.integers(0, 16, (n, k), dtype=np.uint8)
        layer = QuantLinear(q=q, scales=rng.random((n, k // group), dtype=np.float32),
                            zeros=rng.integers(0, 16, (n, k // group), dtype=np.uint8),
                            g_idx=(np.arange(k) // group).astype(np.int32), bits=4)
        p = pack_matmulnbits(layer)
        assert p["block_size"] == blocks and p["g_idx"] is None
        back = unpack_matmulnbits(p["qweight"], p["scales"], p["qzeros"], None, k=k, n=n, bits=4, block=blocks)
        assert np.array_equal(dequantize(back), dequantize(layer))
    perm = rng.permutation(768)
    act = QuantLinear(q=q, scales=rng.random((n, 6), dtype=np.float32), zeros=rng.integers(0, 16, (n, 6), np.uint8),
                      g_idx=(perm // 128).astype(np.int32), bits=4)
    p = pack_matmulnbits(act)
    back = unpack_matmulnbits(p["qweight"], p["scales"], p["qzeros"], p["g_idx"], k=768, n=n, bits=4, block=128)
    assert np.array_equal(dequantize(back), dequantize(act))


def test_unrepresentable_sources_fail_before_any_work(sources: dict[str, Path], standin: Path, tmp_path: Path) -> None:
    with pytest.raises(KizamiError, match="quantization_config.*GPTQ 4 or 8 bits"):
        ONNXConfig(from_build=str(standin))
    odd = tmp_path / "odd"
    shutil.copytree(sources["gptq"], odd)
    config = json.loads((odd / "config.json").read_text())
    for change, what in (({"bits": 3}, "GPTQ 3-bit"), ({"group_size": 40}, "group size 40"),
                         ({"quant_method": "bitsandbytes"}, "quant_method 'bitsandbytes'"),
                         ({"checkpoint_format": "marlin"}, "checkpoint_format 'marlin'")):
        (odd / "config.json").write_text(json.dumps({**config, "quantization_config": {**config["quantization_config"],
                                                                                        **change}}))
        with pytest.raises(KizamiError, match=f"{what} cannot be carried.*can represent GPTQ 4 or 8 bits"):
            ONNXConfig(from_build=str(odd))
    with pytest.raises(KizamiError, match="precision int4"):
        ONNXConfig(precision="int8", from_build=str(sources["gptq"]))
    with pytest.raises(KizamiError, match="lm_head"):
        ONNXConfig(lm_head="fp8")
    assert not (tmp_path / "out").exists()
