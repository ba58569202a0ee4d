"""onnxruntime-genai's model builder, run so that an 8B export's memory does not grow with the model.

``python -m kizami.export._onnx_stream <builder arguments>`` runs the pinned builder's own command line with two of its
steps replaced; the graph it makes and the bytes it writes are the same (tests/test_onnx_stream.py compares every
node and initializer with the plain builder's output):

* **Weights are mapped, not loaded.** The builder loads the checkpoint with ``from_pretrained``: every weight in
  anonymous memory (16 GB at 8B). Here the model is made on the meta device and each parameter is a view of the
  memory-mapped safetensors shard (copy-on-write, so nothing is written back), which the kernel can evict once a
  layer has been read.
* **Weights are quantized one MatMul at a time.** The builder's ``to_nbits`` turns the *whole* graph into one
  ``ModelProto`` — every weight as fp32, 32 GB at 8B — and quantizes it. Here each eligible node goes through the
  same ``to_nbits`` on a one-node model (so the quantizer, its options and any per-node bit widths are the builder's
  own) and the quantized node replaces the float one; one fp32 weight exists at a time.

Measured at the 8B's full width (docs/scale.md): the int4 export needed 11.8 GiB + 1.3 GiB per layer with the builder
as shipped (≈ 49 GiB at 32 layers); this way 6.4 GiB + 0.17 GiB per layer of anonymous memory (≈ 12 GiB). Each
MatMul done prints ``Quantized k/n MatMul weights`` (export/onnx.py turns it into progress). This runs in the
export's child process only, never in kizami's own.
"""

from __future__ import annotations

import gc
import json
import mmap
import runpy
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx_ir as ir
import onnxruntime_genai.models  # noqa: F401  (puts the builder's folder on sys.path, as its command line expects)
import torch
from builders import base  # the module the builder's command line itself imports (not onnxruntime_genai.models.…)

_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}

_builder_load_weights = base.Model.load_weights
_builder_to_nbits = base.Model.to_nbits


def mapped_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of one safetensors file as a view of the file mapped copy-on-write (no copy is made)."""
    with path.open("rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    header_len = int.from_bytes(mapped[:8], "little")
    header = json.loads(mapped[8:8 + header_len])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        count = (end - start) // dtype.itemsize
        flat = torch.frombuffer(mapped, dtype=dtype, count=count, offset=8 + header_len + start) if count else \
            torch.empty(0, dtype=dtype)
        tensors[name] = flat.view(info["shape"])
    return tensors


def _mapped_model(self: Any, input_path: str) -> Any:
    folder = Path(self.model_name_or_path)
    plain_hf = (self.quant_type is None and not input_path.endswith(".gguf") and folder.is_dir()
                and not {"adapter_path", "num_hidden_layers"} & set(self.extra_options))
    index = folder / "model.safetensors.index.json"
    shards = (sorted({folder / f for f in json.loads(index.read_text())["weight_map"].values()}) if index.is_file()
              else sorted(folder.glob("*.safetensors")))
    if not plain_hf or not shards:
        return _builder_load_weights(self, input_path)
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    with init_empty_weights():  # parameters on the meta device; buffers (rotary tables) are made for real
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=False)
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        state.update(mapped_safetensors(shard))
    model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()
    missing = [name for name, p in model.named_parameters() if p.is_meta]
    if missing:
        raise SystemExit(f"the checkpoint in {folder} has no weights for {', '.join(missing[:3])}")
    return model.eval()


def _fresh(value: ir.Value, const_value: ir.TensorProtocol | None = None) -> ir.Value:
    """A new value with ``value``'s name, type and shape (a value belongs to one graph)."""
    return ir.Value(name=value.name, type=value.type, shape=value.shape, const_value=const_value)


def _rebuilt(node: ir.Node, inputs: list[ir.Value | None]) -> ir.Node:
    """``node`` again, on ``inputs``, with fresh outputs and its attributes copied (a node belongs to one graph)."""
    attributes = [ir.Attr(a.name, a.type, a.value) for a in node.attributes.values()]
    return ir.Node(node.domain, node.op_type, inputs, attributes, outputs=[_fresh(v) for v in node.outputs],
                   name=node.name)


def _one_node_model(whole: ir.Model, node: ir.Node) -> ir.Model:
    """A model holding only ``node``: its constant inputs as initializers, the others as graph inputs."""
    inputs = [_fresh(v, v.const_value) if v is not None else None for v in node.inputs]
    one = _rebuilt(node, inputs)
    graph = ir.Graph([v for v in inputs if v is not None and v.const_value is None], list(one.outputs), nodes=[one],
                     initializers=[v for v in inputs if v is not None and v.const_value is not None],
                     opset_imports=dict(whole.graph.opset_imports), name=node.name)
    return ir.Model(graph, ir_version=whole.ir_version)


def _splice(whole: ir.Graph, node: ir.Node, quantized: ir.Graph) -> None:
    """Replace ``node`` in ``whole`` by the nodes and initializers of ``quantized`` (its one-node model, quantized)."""
    values: dict[str, ir.Value] = {v.name: v for v in node.inputs if v is not None and v.name is not None}
    for init in quantized.initializers.values():
        # A copy: a tensor read from the quantizer's ModelProto keeps that whole message alive (protobuf allocates a
        # message and its parts together), float weight included: about one fp32 layer per layer, measured.
        data = init.const_value
        assert data is not None
        value = _fresh(init, ir.Tensor(np.array(data.numpy(), copy=True), dtype=data.dtype, name=init.name))
        whole.register_initializer(value)
        values[init.name or ""] = value
    new_nodes = []
    for q in quantized:
        new_nodes.append(_rebuilt(q, [values[v.name or ""] if v is not None else None for v in q.inputs]))
        values.update({v.name or "": v for v in new_nodes[-1].outputs})
    old_weights = [v for v in node.inputs if v is not None and v.const_value is not None]
    old_outputs = list(node.outputs)
    new_outputs = [values[v.name or ""] for v in old_outputs]
    for v in old_outputs:
        v.name = None  # the new outputs take the names
    ir.convenience.replace_nodes_and_values(whole, node, [node], new_nodes, old_outputs, new_outputs)
    for weight in old_weights:
        if not weight.uses() and weight.name is not None and weight.name in whole.initializers:
            del whole.initializers[weight.name]


def _to_nbits_per_node(self: Any) -> ir.Model:
    if getattr(self, "exact_quant_override_names", None):
        return _builder_to_nbits(self)
    whole = self.model
    ops = set(self.quant_attrs["op_types_to_quantize"])
    eligible = [n for n in whole.graph if n.op_type in ops and n.domain in ("", "ai.onnx")
                and any(v is not None and v.const_value is not None for v in n.inputs)]
    for i, node in enumerate(eligible):
        self.model = _one_node_model(whole, node)
        try:
            quantized = _builder_to_nbits(self)
        finally:
            self.model = whole
        if [(q.op_type, q.domain) for q in quantized.graph] != [(node.op_type, node.domain)]:  # left float: skip
            _splice(whole.graph, node, quantized.graph)
        del quantized
        gc.collect(1)  # the one-node models are young reference cycles holding a float weight each: free them now
        print(f"Quantized {i + 1}/{len(eligible)} MatMul weights", flush=True)
    return whole


def main(argv: list[str]) -> None:
    base.Model.load_weights = _mapped_model
    base.Model.to_nbits = _to_nbits_per_node
    sys.argv = ["onnxruntime_genai.models.builder", *argv]
    runpy.run_module("onnxruntime_genai.models.builder", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
