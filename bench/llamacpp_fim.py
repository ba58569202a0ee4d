"""FIM through llama-server, measured: which request reproduces kizami's own FIM prompt?

For each single-line FIM task of the stand-in's held-out set, the same GGUF build completes the middle (greedy, stop at
the first newline, 48 tokens at most) five ways:

- kizami: kizami's own prompt (``kizami.core.fim_dialects`` ``llama3-fim``, PSM) through kizami's llama.cpp backend: the yardstick;
- completion-ids: ``/completion`` with that prompt's ids from ``/tokenize`` (``add_special: false``), as the card says;
- completion-text: ``/completion`` with the same prompt as text (llama.cpp puts a BOS in front, as Ollama does);
- infill-psm: ``/infill`` with ``input_prefix`` / ``input_suffix`` (llama.cpp writes its own FIM prompt);
- infill-spm: the same on a server started with ``--spm-infill``.

Agreement is the share of tasks whose middle equals kizami's exactly, compared as visible text: llama-server leaves
special tokens out of ``content`` while kizami's decoding keeps their text (the stand-in often starts a middle with
``<|begin_of_text|>``), so ``<|...|>`` tokens are removed from both before comparing. EM compares with the held-out
line. Prints a table and writes JSON; ``--rescore FILE`` recomputes the table from a JSON's stored generations.

    python bench/llamacpp_fim.py --model tiny-fcj --fim-per-language 6 -o bench/results/llamacpp-fim.json
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import tempfile
import time
from pathlib import Path

from kizami.calib_data.build import CalibConfig
from kizami.calib_data.fim import FimTask, read_tasks
from kizami.calib_data.recipe import load_recipe
from kizami.core import fim_dialects, toolchain
from kizami.core.llama_server import post, serve
from kizami.export.gguf import GGUFConfig, export_gguf
from kizami.formats.snippets import fim_text
from kizami.run.calib import build_calib
from kizami.runtime import open_build
from kizami.runtime.backend import GenRequest
from kizami.standin import resolve_model

N_PREDICT = 48
_SAMPLING = {"n_predict": N_PREDICT, "temperature": 0, "top_k": 1, "stop": ["\n"], "cache_prompt": False, "seed": 0}


def _server_cmd(server: Path, gguf: Path, threads: int, extra: tuple[str, ...]):
    def command(port: int) -> list[str]:
        return [str(server), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-c", "4096", "-t",
                str(threads), "-np", "1", *extra]
    return command


DIALECT = fim_dialects.get("llama3-fim")


def _served(url: str, task: FimTask, how: str) -> dict:
    text = fim_text(DIALECT, task.prompt, task.suffix, "psm")
    if how == "completion-ids":
        ids = post(url, "/tokenize", {"content": text, "add_special": False, "parse_special": True})["tokens"]
        out = post(url, "/completion", {"prompt": ids, **_SAMPLING})
    elif how == "completion-text":
        out = post(url, "/completion", {"prompt": text, **_SAMPLING})
    else:
        out = post(url, "/infill", {"input_prefix": task.prompt, "input_suffix": task.suffix, **_SAMPLING})
    return {"text": out["content"], "prompt_tokens": out.get("tokens_evaluated") or out.get("timings", {}).get("prompt_n")}


_SPECIAL = re.compile(r"<\|[^|<>\s]{1,40}\|>")


def _visible(text: str) -> str:
    return _SPECIAL.sub("", text)


def _row(canonical: list[str], mine: list[str], theirs: list[str]) -> dict:
    n = len(canonical)
    return {"tasks": n, "agreement": sum(_visible(a) == _visible(b) for a, b in zip(mine, theirs)) / n,
            "em": sum(_visible(t).strip() == c.strip() for t, c in zip(theirs, canonical)) / n}


def _table(results: dict) -> None:
    print(f"{'request':32} {'tasks':>5} {'agree w/ kizami':>15} {'EM':>6} {'prompt = kizami':>15}")
    for name, r in results.items():
        same = r.get("prompt_tokens_equal_kizami")
        print(f"{name:32} {r['tasks']:5d} {r['agreement']:15.3f} {r['em']:6.3f} "
              f"{'' if same is None else f'{same:.3f}':>15}")


def _rescore(path: Path) -> None:
    data = json.loads(path.read_text())
    gens, canonical = data["generations"], data["canonical"]
    names = {"kizami (PSM, own prompt)": "kizami-psm", "kizami (SPM, own prompt)": "kizami-spm",
             **{f"llama-server {k}": k for k in ("completion-ids", "completion-text", "infill-psm", "infill-spm")}}
    for name, key in names.items():
        if key in gens:
            data["results"][name] = {**data["results"].get(name, {}), **_row(canonical, gens["kizami-psm"], gens[key])}
    data["comparison"] = "visible text (<|...|> special tokens removed)"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    _table(data["results"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-fcj")
    ap.add_argument("--type", default="f16", help="GGUF type to measure (f16 or a quantized type)")
    ap.add_argument("--fim-per-language", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--out", type=Path, default=None)
    ap.add_argument("--rescore", type=Path, default=None, help="recompute the table from this JSON's generations")
    args = ap.parse_args()
    if args.rescore:
        _rescore(args.rescore)
        return
    model = resolve_model(args.model)
    server = toolchain.find().tool("llama-server")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        calib = build_calib(load_recipe("default"), model, root / "calib",
                            CalibConfig(samples=16, seq_len=256, fim_per_language=args.fim_per_language))
        tasks = read_tasks(calib / "eval" / "fim.jsonl")
        types = () if args.type in ("f16", "bf16", "f32") else (args.type,)
        builds = export_gguf(model, root / "gguf", GGUFConfig(types=types, base="f16" if not types else "f16",
                                                              imatrix="none", threads=args.threads))
        build = builds[args.type if types else "f16"]
        gguf = next(build.glob("*.gguf"))
        backend = open_build(build, threads=args.threads)
        t0 = time.perf_counter()
        encode = lambda text: backend.tokenize([text])[0]  # noqa: E731
        prompts = {mode: [DIALECT.prompt_ids(encode, backend.token_id, t.prompt, t.suffix, mode) for t in tasks]
                   for mode in ("psm", "spm")}
        kizami = {mode: [backend.generate([GenRequest(prompt=ids, max_new_tokens=N_PREDICT, stop_strings=("\n",))])[0].text
                         for ids in prompts[mode]] for mode in prompts}
        backend.close()
        canonical = [t.canonical_solution for t in tasks]
        results = {"kizami (PSM, own prompt)": _row(canonical, kizami["psm"], kizami["psm"]),
                   "kizami (SPM, own prompt)": _row(canonical, kizami["psm"], kizami["spm"])}
        generations: dict[str, list] = {"kizami-psm": kizami["psm"], "kizami-spm": kizami["spm"]}
        variants = {"completion-ids": (), "completion-text": (), "infill-psm": (), "infill-spm": ("--spm-infill",)}
        for flags in dict.fromkeys(variants.values()):
            with serve(_server_cmd(server, gguf, args.threads, flags)) as srv:
                for how, f in variants.items():
                    if f != flags:
                        continue
                    served = [_served(srv.url, t, how) for t in tasks]
                    generations[how] = served
                    row = _row(canonical, kizami["psm"], [s["text"] for s in served])
                    row["prompt_tokens_equal_kizami"] = sum(
                        s["prompt_tokens"] == len(p) for s, p in zip(served, prompts["psm"])) / len(tasks)
                    results[f"llama-server {how}"] = row
        elapsed = time.perf_counter() - t0
    _table(results)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "command": f"python bench/llamacpp_fim.py --model {args.model} --type {args.type} "
                       f"--fim-per-language {args.fim_per_language} --threads {args.threads}",
            "model": args.model, "gguf_type": args.type, "llama_cpp": toolchain.LLAMA_CPP_PYTHON_VERSION,
            "machine": platform.machine(), "seconds": round(elapsed, 1), "results": results,
            "comparison": "visible text (<|...|> special tokens removed)", "canonical": canonical,
            "generations": {k: [g if isinstance(g, str) else g["text"] for g in v] for k, v in generations.items()},
        }, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
