"""Does the calibration set matter for GPTQ and AWQ? One model quantized with the code + Japanese default set and with
English prose only, the same number of rows x tokens, measured on the same held-out code / Japanese / English text:
PPL per domain, KLD and top-1 vs bf16, FIM exact match. Prints a table and writes JSON.

    python bench/quant_calib.py --model tiny-fcj -o bench/results/quant-calib.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from kizami.calib_data.build import CalibConfig
from kizami.calib_data.recipe import load_recipe
from kizami.core.checkpoint import count_parameters
from kizami.quantize.awq import AWQConfig, quantize_awq
from kizami.quantize.gptq import GPTQConfig, quantize_gptq
from kizami.run.calib import build_calib
from kizami.runtime.evaluate import EvalSettings, evaluate, make_reference
from kizami.standin import resolve_model

HERE = Path(__file__).parent
METHODS = {"gptq": (GPTQConfig, quantize_gptq), "awq": (AWQConfig, quantize_awq)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-fcj")
    ap.add_argument("--methods", default="gptq,awq")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--samples", type=int, default=16, help="rows per calibration set (English prose runs out near 16)")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args()
    model = resolve_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        size = {"samples": args.samples, "seq_len": args.seq_len}
        sets = {"code+ja": build_calib(load_recipe("default"), model, root / "calib-default",
                                       CalibConfig(**size, fim_per_language=10)),
                "english-only": build_calib(load_recipe(HERE / "recipes" / "english-only.toml"), model,
                                            root / "calib-en", CalibConfig(**size, fim_per_language=1))}
        # evaluation always on the default set's held-out split (code, Japanese and English text + FIM tasks)
        settings = EvalSettings(ctx=256, stride=128, threads=args.threads, metrics=("quality", "fim"))
        ref = make_reference(model, sets["code+ja"], settings)
        n_params = count_parameters(model)
        rows = {"bf16": evaluate(model, ref, settings, n_params=n_params)}
        quantize_s: dict[str, float] = {}
        for method in args.methods.split(","):
            config_cls, fn = METHODS[method]
            for label, calib in sets.items():
                start = time.monotonic()
                build = fn(model, root / f"{method}-{label}", config_cls(bits=args.bits, threads=args.threads, **size),
                           calib=calib)
                rows[f"{method.upper()} {args.bits}-bit, {label}"] = evaluate(build, ref, settings, n_params=n_params)
                quantize_s[f"{method.upper()} {args.bits}-bit, {label}"] = time.monotonic() - start
    print(f"{'build':<28}{'PPL code':>10}{'PPL ja':>9}{'PPL en':>9}{'KLD':>9}{'KLD code':>10}{'KLD ja':>9}{'KLD en':>9}"
          f"{'top-1':>8}{'FIM PSM':>9}{'FIM SPM':>9}")
    table = {}
    for name, r in rows.items():
        q, f = r.section("quality"), r.section("fim")
        table[name] = {"ppl": q["ppl"], "kld": q["kld"]["all"]["mean"], "top1": q["top1"]["all"],
                       "kld_by_domain": {d: v["mean"] for d, v in q["kld"].items() if d != "all"},
                       "fim_em": {m: f[m]["em"] for m in ("psm", "spm")}, "fim_tasks": f["psm"]["evaluated"]}
        t = table[name]
        k = t["kld_by_domain"]
        print(f"{name:<28}{t['ppl']['code']:>10.3f}{t['ppl']['ja']:>9.3f}{t['ppl']['en']:>9.3f}{t['kld']:>9.4f}"
              f"{k['code']:>10.4f}{k['ja']:>9.4f}{k['en']:>9.4f}{t['top1']:>8.3f}{t['fim_em']['psm']:>9.3f}"
              f"{t['fim_em']['spm']:>9.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"model": args.model, "bits": args.bits, **size, "results": table},
                                       indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
