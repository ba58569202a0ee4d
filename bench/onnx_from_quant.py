"""ONNX int4 made from kizami's GPTQ and AWQ builds, against those builds in torch and against the builder's own
round-to-nearest int4 at the same block size: the dequantized weights layer by layer, then KLD / top-1 vs bf16 on
held-out code and Japanese (and all domains), with decode tokens/s beside it, for MatMulNBits accuracy levels 4
(int8 activations) and 0 (float activations), and with lm_head kept float (the default) or rounded to int4.

    python bench/onnx_from_quant.py --model tiny-fcj -o bench/results/onnx-from-quant.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from kizami.calib_data.build import CalibConfig
from kizami.calib_data.recipe import load_recipe
from kizami.core.checkpoint import count_parameters
from kizami.export.onnx import ONNXConfig, export_onnx
from kizami.export.onnx_quant import LayerDiff, compare_layers
from kizami.quantize.awq import AWQConfig, quantize_awq
from kizami.quantize.gptq import GPTQConfig, quantize_gptq
from kizami.run.calib import build_calib
from kizami.runtime.evaluate import EvalSettings, evaluate, make_reference
from kizami.runtime.metrics.speed import SpeedSettings
from kizami.standin import resolve_model

DOMAINS = ("code", "ja")


def _layers(source: Path, build: Path) -> dict[str, float | int]:
    diffs = [d for d in compare_layers(source, build / "model.onnx") if isinstance(d, LayerDiff)]
    return {"layers": len(diffs), "layers_differing": sum(d.mismatched > 0 for d in diffs),
            "max_abs": max(d.max_abs for d in diffs), "max_rel": max(d.rel_err for d in diffs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-fcj")
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--group-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args()
    model = resolve_model(args.model)
    size = {"samples": args.samples, "seq_len": args.seq_len}
    g = args.group_size
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        calib = build_calib(load_recipe("default"), model, root / "calib", CalibConfig(**size, fim_per_language=1))
        gptq = quantize_gptq(model, root / "gptq", GPTQConfig(group_size=g, threads=args.threads, **size), calib=calib)
        awq = quantize_awq(model, root / "awq", AWQConfig(group_size=g, threads=args.threads, **size), calib=calib)
        onnx = {  # name: (config, source build for the layer check)
            "ONNX from GPTQ (acc 4)": (ONNXConfig(from_build=str(gptq)), gptq),
            "ONNX from GPTQ (acc 0)": (ONNXConfig(from_build=str(gptq), accuracy_level=0), gptq),
            "ONNX from GPTQ, lm_head int4": (ONNXConfig(from_build=str(gptq), lm_head="int4", int4_block_size=32), gptq),
            "ONNX from AWQ (acc 4)": (ONNXConfig(from_build=str(awq)), awq),
            "ONNX from AWQ (acc 0)": (ONNXConfig(from_build=str(awq), accuracy_level=0), awq),
            f"ONNX RTN int4 b{g} (acc 4)": (ONNXConfig(int4_block_size=g, lm_head="source"), None),
            f"ONNX RTN int4 b{g} (acc 0)": (ONNXConfig(int4_block_size=g, lm_head="source", accuracy_level=0), None),
        }
        builds: dict[str, Path] = {"GPTQ (torch)": gptq, "AWQ (torch)": awq}
        layers = {}
        for i, (name, (cfg, source)) in enumerate(onnx.items()):
            builds[name] = export_onnx(model, root / f"onnx-{i}", cfg)
            if source is not None:
                layers[name] = _layers(source, builds[name])
        settings = EvalSettings(ctx=256, stride=128, threads=args.threads, metrics=("quality", "speed"),
                                per_metric={"speed": SpeedSettings(prompt_tokens=128, decode_tokens=64, repeats=5)})
        ref = make_reference(model, calib, settings)
        rows = {name: evaluate(path, ref, settings, n_params=count_parameters(model)) for name, path in builds.items()}
    table = {}
    for name, r in rows.items():
        q = r.section("quality")
        table[name] = {"kld": q["kld"]["all"]["mean"], **{f"kld_{d}": q["kld"][d]["mean"] for d in DOMAINS},
                       "top1": q["top1"]["all"], "decode_tok_s": r.section("speed")["decode_tok_s"]["median"],
                       **({"weights_vs_source": layers[name]} if name in layers else {})}
    for name, t in table.items():  # ratio to the source build in torch
        src = "GPTQ (torch)" if "GPTQ" in name else "AWQ (torch)" if "AWQ" in name else ""
        t["kld_vs_source"] = t["kld"] / table[src]["kld"] if src else None
    print(f"{'build':<32}{'KLD':>8}{'code':>8}{'ja':>8}{'×src':>7}{'top-1':>7}{'decode t/s':>12}{'layers ≠ src':>14}")
    for name, t in table.items():
        ratio = f"{t['kld_vs_source']:.2f}" if t["kld_vs_source"] else "—"
        lay = t.get("weights_vs_source")
        lay_s = f"{lay['layers_differing']}/{lay['layers']}" if lay else "—"
        print(f"{name:<32}{t['kld']:>8.4f}{t['kld_code']:>8.4f}{t['kld_ja']:>8.4f}{ratio:>7}{t['top1']:>7.3f}"
              f"{t['decode_tok_s']:>12.0f}{lay_s:>14}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"model": args.model, **size, "group_size": g, "threads": args.threads,
                                        "results": table}, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
