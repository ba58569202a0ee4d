"""How much does kizami's runtime cost over calling the engine directly?

For one build, on the same token ids in the same process: scoring throughput (tokens scored per second) through
``Backend.score`` vs. a plain engine loop that computes the same quantities the metrics read (log-softmax, the target
token's log-prob, the argmax, 32 gathered log-probs), and batch-1 decode tokens/s
through ``Backend.generate`` vs. a plain greedy loop on the engine. Warm-up first, median of repeats taken
alternately, threads pinned.
Prints a table and writes JSON.

    python bench/runtime_overhead.py --build tiny-fcj --threads 2 -o bench/results/overhead-torch.json
    python bench/runtime_overhead.py --build runs/tiny-fcj/builds/gguf/Q4_K_M --threads 2 -o bench/results/overhead-gguf.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def _median_times(fn_a, fn_b, repeats: int) -> tuple[float, float]:
    """Median seconds of each, measured alternately (A B A B …) so drift in the machine's speed hits both alike."""
    fn_a(), fn_b()  # warm-up
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, times in ((fn_a, times_a), (fn_b, times_b)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times_a), statistics.median(times_b)


def raw_torch(backend, windows, decode_prompt, n_decode):
    import torch

    model = backend.model

    gather = torch.zeros((len(windows[0]) - 1, 32), dtype=torch.long)

    @torch.inference_mode()
    def score():  # the same quantities the metrics read: target log-prob, argmax, the reference's 32 ids
        for w in windows:
            x = torch.tensor([w])
            logp = model(input_ids=x).logits[0, :-1].float().log_softmax(-1)
            logp.gather(1, x[0, 1:, None]).numpy(), logp.argmax(-1).numpy(), logp.gather(1, gather).numpy()

    @torch.inference_mode()
    def decode():
        out = model(input_ids=torch.tensor([decode_prompt]), use_cache=True, logits_to_keep=1)
        past, tok = out.past_key_values, int(out.logits[0, -1].argmax())
        for _ in range(n_decode - 1):
            out = model(input_ids=torch.tensor([[tok]]), past_key_values=past, use_cache=True)
            past, tok = out.past_key_values, int(out.logits[0, -1].argmax())

    return score, decode


def raw_llama_cpp(backend, windows, decode_prompt, n_decode):
    import llama_cpp

    scorer = backend._scorer(max(len(w) for w in windows))
    gen = backend._generator()

    def score():
        for w in windows:
            scorer.reset()
            scorer.eval(w)
            logits = np.asarray(scorer.scores[: len(w) - 1], dtype=np.float32)
            m = logits.max(1, keepdims=True)
            logp = logits - (m + np.log(np.exp(logits - m).sum(1, keepdims=True)))
            logp[np.arange(len(w) - 1), w[1:]], logp.argmax(1), logp[:, :32]

    def decode():
        gen.reset()
        gen.eval(decode_prompt)
        for _ in range(n_decode - 1):
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(gen.ctx, -1), shape=(backend.n_vocab,))
            gen.eval([int(np.argmax(logits))])

    return score, decode


def main() -> None:
    from kizami.runtime import open_build
    from kizami.runtime.backend import GenRequest
    from kizami.standin import resolve_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="tiny-fcj")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args()

    backend = open_build(resolve_model(args.build), threads=args.threads)
    rng = np.random.default_rng(0)
    vocab = 4000
    windows = [rng.integers(0, vocab, args.ctx).tolist() for _ in range(args.windows)]
    prompt = windows[0][:64]
    raw = raw_torch if backend.name == "torch" else raw_llama_cpp
    raw_score, raw_decode = raw(backend, windows, prompt, args.decode)

    def kz_score():
        for w in windows:
            backend.score(w, gather=np.zeros((len(w) - 1, 32), dtype=np.int64))

    def kz_decode():
        backend.generate([GenRequest(prompt=prompt, max_new_tokens=args.decode, ignore_stops=True)])

    tokens = args.windows * (args.ctx - 1)
    score_s, raw_score_s = _median_times(kz_score, raw_score, args.repeats)
    decode_s, raw_decode_s = _median_times(kz_decode, raw_decode, args.repeats)
    rows = {"score_tok_s": (tokens / score_s, tokens / raw_score_s),
            "decode_tok_s": (args.decode / decode_s, args.decode / raw_decode_s)}
    result = {"build": args.build, "backend": backend.name, "threads": args.threads, "ctx": args.ctx,
              "windows": args.windows, "decode_tokens": args.decode, "repeats": args.repeats,
              "results": {k: {"kizami": a, "raw": b, "ratio": a / b} for k, (a, b) in rows.items()}}
    print(f"{'measure':<14}{'kizami':>12}{'raw engine':>12}{'ratio':>8}   ({backend.name}, {args.threads} threads)")
    for k, v in result["results"].items():
        print(f"{k:<14}{v['kizami']:>12.1f}{v['raw']:>12.1f}{v['ratio']:>8.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
