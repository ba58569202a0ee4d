"""Mixed-precision builds against uniform types of the same size, scored by KLD vs bf16 on held-out code, Japanese
and English (text the sensitivity pass never saw).

GGUF: each budget is the bits per weight a llama.cpp type stores over the 2-D weights (Q3_K_M, Q4_K_M, Q5_K_M by
default), both with the same importance matrix, scored with llama.cpp. GPTQ: budgets at uniform 3-bit's and 4-bit's
stored size (g128) and halfway, scored in torch. Also: the predicted KLD (the summed per-tensor costs) against the
measured one, the proxy's ranking against the measured one (Spearman rho), and what the sensitivity pass costs.

    python bench/mixed.py --engine gguf -o bench/results/mixed-gguf.json
    python bench/mixed.py --engine gptq -o bench/results/mixed-gptq.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from kizami.builders import get_builder
from kizami.builders.mixed import Sensitivity, gptq_bytes, spearman
from kizami.calib_data.build import CalibConfig
from kizami.calib_data.recipe import load_recipe
from kizami.core import manifest
from kizami.core.checkpoint import count_parameters, read_config
from kizami.core.gguf_header import gguf_file, read_tensors
from kizami.export.gguf import QUANT_TYPES, GGUFConfig, weight_names
from kizami.quantize.common import _linear_shapes
from kizami.quantize.gptq import GPTQConfig
from kizami.run.calib import build_calib
from kizami.runtime.evaluate import EvalSettings, evaluate, make_reference
from kizami.standin import resolve_model

DOMAINS = ("code", "ja", "en")


def gguf_types(build: Path, names: list[str]) -> tuple[dict[str, str], float]:
    """(tensor -> stored type, bits per weight over the 2-D weights) of a GGUF build."""
    infos = read_tensors(gguf_file(build))
    return {n: infos[n].type for n in names}, 8 * sum(infos[n].n_bytes for n in names) / sum(infos[n].n_weights for n in names)


def gguf_builds(args: Any, model: Path, calib: Path, root: Path) -> tuple[dict[str, Path], dict[str, float]]:
    names = weight_names(read_config(model))
    uniform = tuple(args.uniform.split(","))
    gguf = get_builder("gguf")
    common = {"imatrix_chunks": 32, "imatrix_ctx": args.seq_len, "threads": args.threads}
    fixed = gguf.build(model, root / "uniform", GGUFConfig(types=uniform, **common), calib=calib)
    budgets = {t: round(gguf_types(fixed[t], names)[1], 4) for t in uniform}
    imatrix = str(root / "uniform" / "imatrix" / "imatrix.gguf")  # the same importance matrix for both
    builds, seconds = {t.upper(): fixed[t] for t in uniform}, {}
    for method in args.methods.split(","):
        started = time.perf_counter()
        cfg = GGUFConfig(budget=tuple(budgets.values()), imatrix=imatrix, sensitivity=method,
                         sensitivity_rows=args.sensitivity_rows, **common)
        mixed = gguf.build(model, root / method, cfg, calib=calib)
        seconds[method] = time.perf_counter() - started
        builds |= {f"mixed ({method}) @ {QUANT_TYPES[t][0]}": mixed[f"mix{b:g}"] for t, b in budgets.items()}
    return builds, seconds


def gptq_builds(args: Any, model: Path, calib: Path, root: Path) -> tuple[dict[str, Path], dict[str, float]]:
    config = read_config(model)
    shapes = [s for _ in range(int(config["num_hidden_layers"])) for s in _linear_shapes(config).values()]

    def bpw(bits: int) -> float:
        return 8 * sum(gptq_bytes(o, i, bits, 128) for i, o in shapes) / sum(i * o for i, o in shapes)

    gptq = get_builder("gptq")
    builds = {f"GPTQ w{b}g128": gptq.build(model, root / f"w{b}", GPTQConfig(bits=b, threads=args.threads), calib=calib)[""]
              for b in (3, 4)}
    seconds = {}
    for method in args.methods.split(","):
        started = time.perf_counter()
        for label, budget in (("w3g128", bpw(3)), ("halfway", (bpw(3) + bpw(4)) / 2), ("w4g128", bpw(4))):
            cfg = GPTQConfig(budget=round(budget, 4), sensitivity=method, sensitivity_rows=args.sensitivity_rows,
                             threads=args.threads)
            builds[f"mixed ({method}) @ {label}"] = gptq.build(model, root / method / label, cfg, calib=calib)[""]
        seconds[method] = time.perf_counter() - started
    return builds, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=("gguf", "gptq"), default="gguf")
    ap.add_argument("--model", default="tiny-fcj")
    ap.add_argument("--uniform", default="q3_k_m,q4_k_m,q5_k_m", help="GGUF: llama.cpp types to beat, one budget each")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--sensitivity-rows", type=int, default=16)
    ap.add_argument("--methods", default="kld,proxy", help="sensitivity methods to allocate with, one set of builds each")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args()
    model = resolve_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        calib = build_calib(load_recipe("default"), model, root / "calib",
                            CalibConfig(samples=args.samples, seq_len=args.seq_len, fim_per_language=1))
        builds, seconds = (gguf_builds if args.engine == "gguf" else gptq_builds)(args, model, calib, root)
        # the first method's (measured, by default) sensitivity: what the predictions and the proxy check use
        sens_file = sorted((root / args.methods.split(",")[0]).rglob("sensitivity.json"))[0]
        sens = Sensitivity.from_json(json.loads(sens_file.read_text()))
        settings = EvalSettings(ctx=256, stride=128, threads=args.threads, metrics=("quality", "size"))
        ref = make_reference(model, calib, settings)
        rows = {}
        for name, path in builds.items():
            r = evaluate(path, ref, settings, n_params=count_parameters(model))
            params = manifest.load(path).parameters
            if args.engine == "gguf":
                types, bpw = gguf_types(path, list(sens.cost))
            else:
                types = params.get("tensor_types") or sens.uniform(f"w{params['config']['bits']}")
                bpw = sens.bits_per_weight(types)
            q = r.section("quality") or {}
            rows[name] = {"bpw": bpw, "file_mib": (r.section("size") or {})["weight_bytes"] / 2**20,
                          "kld": q["kld"]["all"]["mean"], **{f"kld_{d}": q["kld"][d]["mean"] for d in DOMAINS},
                          "top1": q["top1"]["all"],
                          "predicted_kld": sens.predicted(types) if all(t in sens.types for t in types.values()) else None,
                          "types": {t: list(types.values()).count(t) for t in sorted(set(types.values()))}}
    names = list(sens.cost)
    rho_by_type = {t: spearman([sens.cost[n][t] for n in names], [sens.proxy[n][t] for n in names]) for t in sens.types}
    ratios = [sens.proxy[n][t] / sens.cost[n][t] for n in names for t in sens.types if sens.cost[n][t] > 0]
    result = {"engine": args.engine, "model": args.model, "samples": args.samples, "seq_len": args.seq_len,
              "threads": args.threads, "sensitivity_rows": args.sensitivity_rows, "tensors": len(names),
              "candidates": sens.types, "sensitivity_and_mixed_builds_s": seconds, "results": rows,
              "proxy_vs_measured": {
                  "spearman_by_type": rho_by_type, "spearman_median_by_type": statistics.median(rho_by_type.values()),
                  "spearman_all_pairs": spearman([sens.cost[n][t] for n in names for t in sens.types],
                                                 [sens.proxy[n][t] for n in names for t in sens.types]),
                  "ratio_median": statistics.median(ratios), "ratio_p10_p90": statistics.quantiles(ratios, n=10)[::8]}}
    print(f"{'build':<26}{'bpw':>6}{'MiB':>7}{'KLD':>9}{'code':>9}{'ja':>9}{'en':>9}{'predicted':>11}{'top-1':>7}  types")
    for name, r in rows.items():
        pred = f"{r['predicted_kld']:.4f}" if r["predicted_kld"] is not None else "—"
        print(f"{name:<26}{r['bpw']:>6.3f}{r['file_mib']:>7.2f}{r['kld']:>9.4f}{r['kld_code']:>9.4f}{r['kld_ja']:>9.4f}"
              f"{r['kld_en']:>9.4f}{pred:>11}{r['top1']:>7.3f}  {r['types']}")
    pvm = result["proxy_vs_measured"]
    print("sensitivity + mixed builds: " + ", ".join(f"{m} {s:.0f} s" for m, s in seconds.items()))
    print("proxy vs measured, Spearman rho by type: " + ", ".join(f"{t} {v:.3f}" for t, v in rho_by_type.items())
          + f"; all pairs {pvm['spearman_all_pairs']:.3f}; proxy / measured median {pvm['ratio_median']:.2f} "
          f"(10-90 %: {pvm['ratio_p10_p90'][0]:.2f}-{pvm['ratio_p10_p90'][1]:.2f})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
