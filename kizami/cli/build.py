"""`kizami quantize` and `kizami export`: one command per format, all through the format's one build verb."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from kizami.builders import default_of as d
from kizami.calib_data.build import CalibConfig
from kizami.cli.render import console
from kizami.core.errors import KizamiError
from kizami.export.gguf import GGUFConfig
from kizami.export.onnx import ONNXConfig
from kizami.quantize.awq import AWQConfig
from kizami.quantize.gptq import GPTQConfig

__all__ = ["quantize_app", "export_app"]

export_app = typer.Typer(help="Export a checkpoint to GGUF (llama.cpp) or ONNX (onnxruntime) builds.", no_args_is_help=True)
quantize_app = typer.Typer(help="Quantize a checkpoint to GPTQ or AWQ (gptqmodel), calibrated on code + Japanese.",
                           no_args_is_help=True)

Model = Annotated[str, typer.Argument(help="HF checkpoint folder (safetensors), or a stand-in's name (`tiny-fcj`).")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output build folder.")]
Calib = Annotated[str, typer.Option(help="`default` (built-in code + Japanese mixture), a calibration build folder, "
                                         "or a mixture recipe .toml.")]


def _build(fmt_name: str, model: str, out: Path, cfg: Any, calib: str | None) -> dict[str, Path]:
    """The one build verb behind `kizami quantize` and `kizami export`: check, find the calibration set, build."""
    from kizami.builders import get_builder
    from kizami.cli.render import progress_bar
    from kizami.core.checkpoint import check_hf_dir
    from kizami.run.calib import resolve_calib
    from kizami.standin import resolve_model

    fmt, model_path = get_builder(fmt_name), check_hf_dir(resolve_model(model))
    fmt.check_config(model_path, cfg)
    calib_dir = None
    if calib is not None and fmt.needs_calibration(cfg):
        sizes = CalibConfig(samples=getattr(cfg, "samples", 0) or d(CalibConfig, "samples"),
                            seq_len=getattr(cfg, "seq_len", 0) or d(CalibConfig, "seq_len"))
        folder = out.parent / f"calib-{Path(calib).stem}-{sizes.samples}x{sizes.seq_len}"
        with console.status("calibration set…") as status:
            calib_dir = resolve_calib(calib, model_path, folder=folder, cfg=sizes,
                                      progress=lambda msg: status.update(f"calibration set: {msg}…"))
    with progress_bar(fmt_name.upper(), transient=True) as progress:
        return fmt.build(model_path, out, cfg, calib=calib_dir, progress=progress)


def _quantize(method: str, model: str, out: Path, cfg: Any, calib: str) -> None:
    from kizami.cli.render import layer_table
    from kizami.quantize.common import layer_errors

    build = _build(method, model, out, cfg, calib)[""]
    if rows := layer_errors(build):
        console.print(layer_table(method, rows))
    size = sum(p.stat().st_size for p in build.glob("*.safetensors"))
    console.print(f"[green]wrote[/] {build} ({size / 2**20:.1f} MiB of weights)")


Bits = Annotated[Optional[int], typer.Option(help="Bits per weight: 4 or 8 (GPTQ also 2 or 3). Default 4.")]
GroupSize = Annotated[int, typer.Option(help="Weights per scale: 32, 64, 128 (GPTQ also 256), or -1 per output channel.")]
Samples = Annotated[int, typer.Option(help="Calibration samples (0: every sample of the set; 128 for `default`).")]
SeqLen = Annotated[int, typer.Option(help="Tokens per calibration sample (0: the set's length; 512 for `default`).")]
Skip = Annotated[Optional[list[str]], typer.Option(help="Regex of linear layers to keep unquantized (repeatable), e.g. "
                                                       "'model.layers.0.mlp.down_proj'. lm_head and the embeddings "
                                                       "are never quantized.")]
BatchSize = Annotated[int, typer.Option(help="Calibration rows per forward pass.")]
Device = Annotated[str, typer.Option(help="cpu, or cuda / cuda:N.")]
Threads = Annotated[Optional[int], typer.Option(help="CPU threads (default: all cores).")]


@quantize_app.command("gptq")
def quantize_gptq_cmd(
    model: Model, out: Out, bits: Bits = None, group_size: GroupSize = d(GPTQConfig, "group_size"),
    sym: Annotated[bool, typer.Option(help="Symmetric quantization (no zero point).")] = d(GPTQConfig, "sym"),
    desc_act: Annotated[bool, typer.Option(help="Act-order: quantize columns by decreasing activation size.")] = d(GPTQConfig, "desc_act"),
    damp_percent: Annotated[float, typer.Option(help="Hessian dampening (fraction of its mean diagonal).")] = d(GPTQConfig, "damp_percent"),
    true_sequential: Annotated[bool, typer.Option(help="Quantize attention then MLP, each on quantized inputs.")] = d(GPTQConfig, "true_sequential"),
    calib: Calib = "default", samples: Samples = d(GPTQConfig, "samples"), seq_len: SeqLen = d(GPTQConfig, "seq_len"),
    skip: Skip = None, batch_size: BatchSize = d(GPTQConfig, "batch_size"), device: Device = d(GPTQConfig, "device"),
    threads: Threads = None,
    budget: Annotated[float, typer.Option(help="Mixed precision: bits per weight as stored, over the linear layers; "
                                               "each layer's bits chosen by measured sensitivity (docs/mixed.md).")] = d(GPTQConfig, "budget"),
    candidates: Annotated[str, typer.Option(help="Bit widths a budget build may give a layer.")] = ",".join(map(str, d(GPTQConfig, "candidates"))),
    sensitivity: Annotated[str, typer.Option(help="`kld` (measured) or `proxy` (activation-weighted weight error).")] = d(GPTQConfig, "sensitivity"),
    module_bits: Annotated[Optional[list[str]], typer.Option(help="REGEX=BITS, e.g. mlp.down_proj=8 (repeatable): "
                                                                  "those bits for matching layers.")] = None,
) -> None:
    """GPTQ: second-order weight rounding learned from the calibration set (loads in transformers, vLLM, GPTQModel)."""
    if budget and bits is not None:
        raise KizamiError("a budget build chooses each layer's bits; drop --bits or --budget")
    try:
        widths = tuple(int(b) for b in candidates.split(",") if b.strip())
    except ValueError:
        raise KizamiError(f"--candidates {candidates!r} is not a comma-separated list of bit widths, e.g. 3,4,8") from None
    _quantize("gptq", model, out, GPTQConfig(
        bits=d(GPTQConfig, "bits") if bits is None else bits, group_size=group_size, sym=sym, desc_act=desc_act,
        damp_percent=damp_percent, threads=threads, true_sequential=true_sequential, samples=samples, seq_len=seq_len,
        skip_modules=tuple(skip or ()), batch_size=batch_size, device=device, budget=budget, candidates=widths,
        sensitivity=sensitivity, module_bits=tuple(module_bits or ())), calib)


@quantize_app.command("awq")
def quantize_awq_cmd(
    model: Model, out: Out, bits: Annotated[int, typer.Option(help="Bits per weight: 4 or 8.")] = d(AWQConfig, "bits"),
    group_size: GroupSize = d(AWQConfig, "group_size"),
    sym: Annotated[bool, typer.Option(help="Symmetric quantization (default: with a zero point, AWQ's usual layout).")] = d(AWQConfig, "sym"),
    calib: Calib = "default", samples: Samples = d(AWQConfig, "samples"), seq_len: SeqLen = d(AWQConfig, "seq_len"),
    skip: Skip = None, batch_size: BatchSize = d(AWQConfig, "batch_size"), device: Device = d(AWQConfig, "device"),
    threads: Threads = None,
) -> None:
    """AWQ: activation-aware per-channel scales searched on the calibration set (transformers, vLLM 4-bit, GPTQModel)."""
    _quantize("awq", model, out, AWQConfig(
        bits=bits, group_size=group_size, sym=sym, samples=samples, seq_len=seq_len, skip_modules=tuple(skip or ()),
        batch_size=batch_size, device=device, threads=threads), calib)


@export_app.command("gguf")
def export_gguf_cmd(
    model: Model,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: one build folder per type inside.")],
    types: Annotated[str, typer.Option(help="Comma-separated: q8_0,q6_k,q5_k_m,q4_k_m,q4_0,iq4_xs,q3_k_m,q2_k "
                                            "(default q8_0,q4_k_m; none with --budget).")] = ",".join(d(GGUFConfig, "types")),
    base: Annotated[str, typer.Option(help="Unquantized base GGUF: f16, bf16 or f32.")] = d(GGUFConfig, "base"),
    imatrix: Annotated[str, typer.Option(help="`calib` (learn from the calibration set), `none`, or an imatrix .gguf.")] = d(GGUFConfig, "imatrix"),
    calib: Annotated[str, typer.Option(help="The calibration set for --imatrix calib (as for `kizami quantize`).")] = "default",
    imatrix_chunks: Annotated[int, typer.Option(help="Chunks of --imatrix-ctx tokens the imatrix reads.")] = d(GGUFConfig, "imatrix_chunks"),
    imatrix_ctx: Annotated[int, typer.Option(help="Context per imatrix chunk.")] = d(GGUFConfig, "imatrix_ctx"),
    pre_tokenizer: Annotated[str, typer.Option(help="`auto` (detect Llama 3's regex), `converter` (the converter's own hash "
                                                    "check), or a llama.cpp pre-tokenizer name, e.g. llama-bpe.")] = "auto",
    name: Annotated[str, typer.Option(help="general.name and file base name (default: the folder name).")] = "",
    license: Annotated[str, typer.Option(help="general.license, e.g. llama3.1.")] = "",
    base_model: Annotated[str, typer.Option(help="Upstream repo id for general.base_model.*.")] = "",
    split_max_size: Annotated[str, typer.Option(help="Shard files larger than this, e.g. 2G.")] = "",
    budget: Annotated[str, typer.Option(help="Mixed precision: comma-separated bits per weight, e.g. 4.5; one build "
                                             "each, every tensor's type chosen by its measured cost (docs/mixed.md).")] = "",
    candidates: Annotated[str, typer.Option(help="Types a budget build may give a tensor.")] = ",".join(d(GGUFConfig, "candidates")),
    sensitivity: Annotated[str, typer.Option(help="`kld` (measured per tensor and type) or `proxy` (weight error "
                                                  "weighted by activations; faster, cruder).")] = d(GGUFConfig, "sensitivity"),
    sensitivity_rows: Annotated[int, typer.Option(help="Calibration rows the sensitivity pass reads.")] = d(GGUFConfig, "sensitivity_rows"),
    tensor_type: Annotated[Optional[list[str]], typer.Option(help="REGEX=TYPE, e.g. attn_v=q6_k (repeatable): that type "
                                                                 "for matching tensors, in every build.")] = None,
    threads: Threads = None,
) -> None:
    """Convert to GGUF with llama.cpp's converter, learn an importance matrix, and quantize to each type or budget."""
    from kizami.cli.render import gguf_table

    def items(text: str) -> tuple[str, ...]:
        return tuple(t.strip().lower() for t in text.split(",") if t.strip())

    try:
        budgets = tuple(float(b) for b in items(budget))
    except ValueError:
        raise KizamiError(f"--budget {budget!r} is not a comma-separated list of numbers, e.g. 4.5 or 3.9,4.9") from None
    cfg = GGUFConfig(types=items(types), base=base, imatrix=imatrix, imatrix_chunks=imatrix_chunks,
                     imatrix_ctx=imatrix_ctx, pre_tokenizer=pre_tokenizer, name=name, license=license,
                     base_model=base_model, split_max_size=split_max_size, threads=threads, budget=budgets,
                     candidates=items(candidates), sensitivity=sensitivity, sensitivity_rows=sensitivity_rows,
                     tensor_types=tuple(tensor_type or ()))
    console.print(gguf_table(out, _build("gguf", model, out, cfg, calib)))


@export_app.command("onnx")
def export_onnx_cmd(
    model: Model, out: Out,
    precision: Annotated[str, typer.Option(help="fp32, int8 or int4 (CPU); fp16 or int4 (CUDA).")] = d(ONNXConfig, "precision"),
    target: Annotated[str, typer.Option(help="cpu or cuda (a CUDA build still runs on the CPU provider).")] = d(ONNXConfig, "target"),
    accuracy_level: Annotated[Optional[int], typer.Option(help="MatMulNBits accuracy level (default 4 on CPU).")] = None,
    block_size: Annotated[int, typer.Option(help="Block size of int4/int8 weight quantization.")] = d(ONNXConfig, "int4_block_size"),
    from_build: Annotated[Optional[Path], typer.Option(help="Build from a GPTQ/AWQ folder instead: its int4 weights are "
                                                            "carried over unchanged.")] = None,
    lm_head: Annotated[str, typer.Option(help="lm_head precision: source (float), int8 or int4 (default: source with "
                                              "--from-build, else the build's precision).")] = "",
) -> None:
    """Export to ONNX with onnxruntime-genai's model builder (KV cache, genai_config.json, tokenizer)."""
    cfg = ONNXConfig(precision=precision, target=target, accuracy_level=accuracy_level, int4_block_size=block_size,
                     from_build=str(from_build) if from_build else "", lm_head=lm_head)
    build = _build("onnx", model, out, cfg, None)[""]
    size = sum(p.stat().st_size for p in build.rglob("*") if p.is_file())
    console.print(f"[green]wrote[/] {build} ({size / 2**20:.1f} MiB, accuracy_level {cfg.accuracy_level})")
