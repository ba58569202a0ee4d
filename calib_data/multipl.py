"""HumanEval in other languages, the MultiPL-E way (Cassano et al., 2022): a type-directed translation of each
Python problem's signature, docstring and literal asserts.

A problem is parsed with ``ast``: the entry function's parameters and return annotation, its docstring, and the
``check(candidate)`` asserts (``candidate(<literals>) == <literal>``, ``abs(candidate(...) - x) < eps``,
``candidate(...) is True``, ``not candidate(...)``, ``assert candidate(...)``). Most HumanEval prompts carry no
annotations (140 of 164 parameters), so each parameter's and the result's type is the annotation *unified* with the
types of every literal the asserts pass or expect: ``[]`` and ``[1, 2]`` give ``list[int]``, ``1`` and ``2.5`` give
``float``, ``'a'`` and ``None`` give ``Optional[str]``; values that do not unify (``1`` and ``"2,3"``) are ``any``.
Each language (``multipl_langs``) then writes:

* the prompt: the docstring as written (whatever its human language) as a doc comment, with its ``>>> f(...)``
  examples rewritten in the target's call syntax where they are literal calls, then the signature with translated
  types, left open for the model's body;
* the tests: a main that calls the function on each assert's translated arguments, compares with a deep equality
  suited to the language, writes ``AssertionError: case N`` to stderr and exits 1 on the first failure, and prints
  ``kizami-done`` after the last case (the sandbox's proof that the whole harness ran);
* stop sequences: the function's closing line (``\\n}``, ``\\nend``, ...). The tests start with that line, so the
  program is ``prompt + completion + tests``.

A problem the target cannot express is skipped with one line saying why: helper functions in the prompt, tests that
compute their cases, a type with no single translation (``any``) in a typed language, integers too large, ...
``translate(problems, "py")`` is the identity (with HumanEval's stop sequences).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from kizami.calib_data.multipl_langs import COMPILED
from kizami.calib_data.multipl_parse import Case, Signature, Skip, Ty, parse_problem
from kizami.calib_data.multipl_scripts import SCRIPTS
from kizami.calib_data.problems import Problem
from kizami.core.errors import UnknownName

__all__ = ["LANGUAGES", "PYTHON_STOP_SEQUENCES", "Ty", "Case", "Signature", "Skip", "parse_problem", "translate",
           "translate_problem"]

PYTHON_STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")  # HumanEval's own


def translate(problems: Sequence[Problem], language: str) -> tuple[list[Problem], dict[str, str]]:
    """The problems in ``language`` (one of ``LANGUAGES``) and the skipped ones, ``{task_id: reason}``."""
    lang = _language(language)
    done: list[Problem] = []
    skipped: dict[str, str] = {}
    for prob in problems:
        try:
            done.append(translate_problem(prob, lang.code))
        except Skip as exc:
            skipped[prob.task_id] = str(exc)
    return done, skipped


def translate_problem(problem: Problem, language: str) -> Problem:
    """One problem in ``language``; raises ``Skip`` with the reason when it cannot be expressed there."""
    lang = _language(language)
    if lang.code == "py":
        return replace(problem, language="py", stop_sequences=PYTHON_STOP_SEQUENCES)
    sig = parse_problem(problem)
    lang.check_name(sig.name)
    for pname, ty in sig.params:
        lang.check_type(ty, f"parameter {pname!r}", arg=True)
    lang.check_type(sig.returns, "the result", arg=False)
    for case in sig.cases:
        for (_, ty), value in zip(sig.params, case.args):
            lang.check_value(value, ty)
        lang.check_value(case.expected, sig.returns)
    return Problem(task_id=problem.task_id, prompt=lang.prompt(sig), canonical_solution="", test=lang.tests(sig),
                   entry_point=sig.name, language=lang.code, stop_sequences=lang.stop_sequences)


def _language(code: str) -> Any:
    langs = {lang.code: lang for lang in (*COMPILED, *SCRIPTS)}
    if code not in langs:
        raise UnknownName(f"unknown language {code!r}; available: {', '.join(LANGUAGES)}")
    return langs[code]


LANGUAGES = ("py", "js", "ts", "cpp", "java", "go", "rs", "php", "rb", "pl", "sh", "r")
