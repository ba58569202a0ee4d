"""How many of HumanEval's 164 problems each language gets (``kizami.calib_data.multipl``), and why the rest are
skipped, counted by kind of reason. Prints a Markdown table and writes JSON (every skipped task with its reason).

With ``--run LANG ...`` it also runs every translated problem of those languages in the sandbox with a body that
returns a zero value (``return {};``, ``Default::default()``, ``nil``, ...): each harness must compile and end as
``failed`` (or ``passed``), never ``error``, which checks the generated code of all problems, not only the tests'
sample. Slow for compiled languages (≈ 1–2 s per program: run it on a quiet machine).

    python bench/multipl_counts.py -o bench/results/multipl-counts.json [--run js cpp ...]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from pathlib import Path

from kizami.calib_data.multipl import LANGUAGES, Ty, parse_problem, translate
from kizami.calib_data.problems import Problem, load_problems
from kizami.runtime.sandbox import Program, SandboxConfig, run_programs

# (pattern in a skip reason, the kind it is counted under); the first match wins
KINDS = (
    (r"helper function", "helper functions in the prompt"),
    (r"computes its cases", "cases computed by a loop or assignment"),
    (r"computed value|not a literal call", "an assert that is not a literal call"),
    (r"no single type", "mixed types (no single static type)"),
    (r"built-in function", "the name is a built-in"),
    (r"does not fit", "an integer too large for the language"),
    (r"optional", "Optional (no such type)"),
    (r"tuple", "tuples (no such type here)"),
    (r"floating point", "float results (bash prints text)"),
    (r"spaces or empty strings", "strings with spaces in a list (bash words)"),
    (r"bash form|plain values", "nested or mixed values (bash words)"),
    (r"dictionar|dict|object keys", "dictionaries"),
)


def kind_of(reason: str) -> str:
    return next((kind for pattern, kind in KINDS if re.search(pattern, reason)), reason)


def zero_body(language: str, returns: Ty) -> str:
    """A body that compiles for any result type and returns a zero value."""
    go_zero = {"int": "0", "float": "0.0", "bool": "false", "str": '""'}
    java_zero = {"int": "0L", "float": "0.0", "bool": "false"}
    return {"cpp": "  return {};", "rs": "    Default::default()", "ts": "  return undefined as any;",
            "js": "  return null;", "php": "  return null;", "rb": "  nil", "pl": "    return undef;", "sh": "  :",
            "r": "  NULL", "java": f"        return {java_zero.get(returns.kind, 'null')};",
            "go": "\treturn " + (", ".join(go_zero.get(a.kind, "nil") for a in returns.args) if returns.kind == "tuple"
                                 else go_zero.get(returns.kind, "nil"))}[language]


def run_zero_bodies(language: str, done: list[Problem], originals: dict[str, Problem]) -> dict[str, object]:
    programs = [Program(p.program(zero_body(language, parse_problem(originals[p.task_id]).returns)), language)
                for p in done]
    t0 = time.monotonic()
    results = run_programs(programs, workers=2, config=SandboxConfig(timeout_s=10, compile_timeout_s=60))
    return {"seconds": round(time.monotonic() - t0, 1), "outcomes": dict(Counter(r.outcome for r in results)),
            "errors": {p.task_id: r.detail for p, r in zip(done, results) if r.outcome not in ("failed", "passed")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default="humaneval", help="a built-in set or a HumanEval-format JSONL file")
    ap.add_argument("--run", nargs="*", default=[], choices=LANGUAGES[1:], metavar="LANG",
                    help="also run every translated problem of these languages with a zero-value body")
    ap.add_argument("-o", "--output", type=Path, default=Path("bench/results/multipl-counts.json"))
    args = ap.parse_args()
    problems = load_problems(args.problems)
    rows = {}
    for language in LANGUAGES:
        done, skipped = translate(problems, language)
        rows[language] = {"translated": len(done), "skipped": len(skipped),
                          "skip_kinds": dict(Counter(kind_of(r) for r in skipped.values()).most_common()),
                          "skipped_tasks": skipped}
        if language in args.run:
            rows[language]["zero_bodies"] = run_zero_bodies(language, done, {p.task_id: p for p in problems})
            print(f"{language}: zero-value bodies {rows[language]['zero_bodies']}", flush=True)
    print(f"| language | translated / {len(problems)} | skipped, by reason |")
    print("|---|---:|---|")
    for language, row in rows.items():
        kinds = "; ".join(f"{kind} {n}" for kind, n in row["skip_kinds"].items()) or "—"
        print(f"| {language} | {row['translated']} | {kinds} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"problems": args.problems, "total": len(problems), "languages": rows},
                                      indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
