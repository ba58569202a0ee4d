"""Does the calibration set matter for GGUF? Q4_K_M (and Q3_K_M) of one model with an importance matrix from the
code + Japanese default set, from English prose only, and with none — KLD, top-1 and PPL per domain on the same
held-out evaluation set. Prints a table and writes JSON.

    python bench/gguf_imatrix.py --model tiny-fcj -o bench/results/gguf-imatrix.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from kizami.calib_data.build import CalibConfig
from kizami.calib_data.recipe import load_recipe
from kizami.export.gguf import GGUFConfig, export_gguf
from kizami.run.calib import build_calib
from kizami.runtime import open_build
from kizami.runtime.evaluate import EvalSettings, make_reference
from kizami.runtime.metrics.quality import quality
from kizami.standin import resolve_model

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-fcj")
    ap.add_argument("--types", default="q4_k_m,q3_k_m")
    ap.add_argument("--chunks", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args()
    model = resolve_model(args.model)
    types = tuple(args.types.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = CalibConfig(samples=64, seq_len=256, fim_per_language=1)
        sets = {"code+ja": build_calib(load_recipe("default"), model, root / "calib-default", cfg),
                "english-only": build_calib(load_recipe(HERE / "recipes" / "english-only.toml"), model, root / "calib-en",
                                            CalibConfig(samples=16, seq_len=256, fim_per_language=1))}
        settings = EvalSettings(ctx=256, stride=128, threads=args.threads, metrics=("quality",))
        ref = make_reference(model, sets["code+ja"], settings)  # evaluation always on the default held-out split
        rows = {}
        for label, imatrix in (("imatrix code+ja", "calib"), ("imatrix english-only", "calib"), ("no imatrix", "none")):
            calib = sets["english-only"] if "english" in label else sets["code+ja"]
            builds = export_gguf(model, root / label.replace(" ", "-"), GGUFConfig(
                types=types, imatrix=imatrix, imatrix_chunks=args.chunks, imatrix_ctx=256, threads=args.threads), calib=calib)
            for t in types:
                q = quality(open_build(builds[t], threads=args.threads), ref)
                rows[f"{t.upper()} {label}"] = {"kld": q["kld"]["all"]["mean"], "top1": q["top1"]["all"],
                                                 "kld_by_domain": {d: v["mean"] for d, v in q["kld"].items() if d != "all"},
                                                 "ppl_ratio": q["ppl_ratio"]}
    print(f"{'build':<34}{'KLD':>9}{'top-1':>8}{'KLD code':>10}{'KLD ja':>9}{'KLD en':>9}{'ΔPPL code':>11}{'ΔPPL ja':>9}{'ΔPPL en':>9}")
    for name, r in rows.items():
        k, p = r["kld_by_domain"], r["ppl_ratio"]
        print(f"{name:<34}{r['kld']:>9.4f}{r['top1']:>8.3f}{k['code']:>10.4f}{k['ja']:>9.4f}{k['en']:>9.4f}"
              f"{(p['code'] - 1) * 100:>10.2f}%{(p['ja'] - 1) * 100:>8.2f}%{(p['en'] - 1) * 100:>8.2f}%")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"model": args.model, "chunks": args.chunks, "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
