"""How many of HumanEval's 164 problems each language gets (``kizami.calib_data.multipl``), and why the rest are
skipped, counted by kind of reason. Prints a Markdown table and writes JSON (every skipped task with its reason).

    python bench/multipl_counts.py -o bench/results/multipl-counts.json
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

from kizami.calib_data.multipl import LANGUAGES, translate
from kizami.calib_data.problems import load_problems

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default="humaneval", help="a built-in set or a HumanEval-format JSONL file")
    ap.add_argument("-o", "--output", type=Path, default=Path("bench/results/multipl-counts.json"))
    args = ap.parse_args()
    problems = load_problems(args.problems)
    rows = {}
    for language in LANGUAGES:
        done, skipped = translate(problems, language)
        rows[language] = {"translated": len(done), "skipped": len(skipped),
                          "skip_kinds": dict(Counter(kind_of(r) for r in skipped.values()).most_common()),
                          "skipped_tasks": skipped}
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
