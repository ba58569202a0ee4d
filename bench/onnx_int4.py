"""ONNX int4 three ways: plain round-to-nearest int4 from the checkpoint (the builder's MatMulNBits), and int4 built
from kizami's GPTQ and AWQ builds (calibrated on code + Japanese). KLD, top-1 and PPL per domain vs bf16, and
prefill / decode tokens/s on the CPU provider. Prints a table and writes JSON.

    python bench/onnx_int4.py --model tiny-fcj -o bench/results/onnx-int4.json
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
from kizami.quantize.awq import AWQConfig, quantize_awq
from kizami.quantize.gptq import GPTQConfig, quantize_gptq
from kizami.run.calib import build_calib
from kizami.runtime.evaluate import EvalSettings, evaluate, make_reference
from kizami.runtime.metrics.speed import SpeedSettings
from kizami.standin import resolve_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-fcj")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args()
    model = resolve_model(args.model)
    size = {"samples": args.samples, "seq_len": args.seq_len}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        calib = build_calib(load_recipe("default"), model, root / "calib", CalibConfig(**size, fim_per_language=1))
        gptq = quantize_gptq(model, root / "gptq", GPTQConfig(threads=args.threads, **size), calib=calib)
        awq = quantize_awq(model, root / "awq", AWQConfig(threads=args.threads, **size), calib=calib)
        builds = {"int4 RTN (builder)": export_onnx(model, root / "rtn", ONNXConfig(precision="int4")),
                  "int4 from GPTQ": export_onnx(model, root / "from-gptq", ONNXConfig(precision="int4", from_build=str(gptq))),
                  "int4 from AWQ": export_onnx(model, root / "from-awq", ONNXConfig(precision="int4", from_build=str(awq))),
                  "fp32": export_onnx(model, root / "fp32", ONNXConfig(precision="fp32"))}
        settings = EvalSettings(ctx=256, stride=128, threads=args.threads, metrics=("quality", "speed", "size"),
                                per_metric={"speed": SpeedSettings(prompt_tokens=128, decode_tokens=64, repeats=5)})
        ref = make_reference(model, calib, settings)
        rows = {name: evaluate(path, ref, settings, n_params=count_parameters(model)) for name, path in builds.items()}
    print(f"{'build':<22}{'MiB':>7}{'KLD':>9}{'top-1':>8}{'ΔPPL code':>11}{'ΔPPL ja':>9}{'ΔPPL en':>9}"
          f"{'prefill t/s':>13}{'decode t/s':>12}")
    table = {}
    for name, r in rows.items():
        q, sp = r.section("quality"), r.section("speed")
        table[name] = {"mib": r.section("size")["bytes"] / 2**20, "kld": q["kld"]["all"]["mean"], "top1": q["top1"]["all"],
                       "ppl": q["ppl"], "ppl_ratio": q["ppl_ratio"],
                       "prefill_tok_s": sp["prefill_tok_s"]["median"], "decode_tok_s": sp["decode_tok_s"]["median"]}
        t, p = table[name], q["ppl_ratio"]
        print(f"{name:<22}{t['mib']:>7.1f}{t['kld']:>9.4f}{t['top1']:>8.3f}{(p['code'] - 1) * 100:>10.2f}%"
              f"{(p['ja'] - 1) * 100:>8.2f}%{(p['en'] - 1) * 100:>8.2f}%{t['prefill_tok_s']:>13.0f}{t['decode_tok_s']:>12.1f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"model": args.model, **size, "threads": args.threads, "results": table},
                                       indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
