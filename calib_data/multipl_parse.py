"""Parsing a HumanEval-format Python problem for translation (``kizami.calib_data.multipl``): the entry function's
signature, docstring and literal asserts, with each parameter's and the result's type inferred from the annotation
unified with the literals the asserts use."""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kizami.calib_data.problems import Problem

__all__ = ["Ty", "Case", "Signature", "Skip", "parse_problem", "type_of", "unify",
           "INT", "FLOAT", "BOOL", "STR", "NONE", "UNKNOWN", "ANY"]


class Skip(Exception):
    """A problem this translation cannot express; the message is the one-line reason."""


@dataclass(frozen=True, slots=True)
class Ty:
    """A value's type: int, float, bool, str, none, list[T], tuple[T, ...], dict[K, V], optional[T], unknown (nothing
    seen yet, e.g. the elements of ``[]``) or any (values of types that do not unify)."""

    kind: str
    args: tuple[Ty, ...] = ()

    def __str__(self) -> str:
        return self.kind + (f"[{', '.join(map(str, self.args))}]" if self.args else "")

    def concrete(self) -> bool:
        return self.kind not in ("unknown", "any", "none") and all(a.concrete() for a in self.args)


INT, FLOAT, BOOL, STR, NONE, UNKNOWN, ANY = (Ty(k) for k in ("int", "float", "bool", "str", "none", "unknown", "any"))


@dataclass(frozen=True, slots=True)
class Case:
    """One assert: ``candidate(*args) == expected``, or ``abs(candidate(*args) - expected) < tolerance``."""

    args: tuple[Any, ...]
    expected: Any
    tolerance: float | None = None


@dataclass(frozen=True, slots=True)
class Signature:
    """What a translation needs from one Python problem."""

    task_id: str
    name: str
    params: tuple[tuple[str, Ty], ...]
    returns: Ty
    doc: str
    cases: tuple[Case, ...]


# --- parsing ---------------------------------------------------------------------------------------------------------

def parse_problem(problem: Problem) -> Signature:
    """The entry function's signature, docstring and literal test cases, with types inferred; ``Skip`` if not."""
    try:
        module = ast.parse(problem.prompt)
    except SyntaxError as exc:
        raise Skip(f"the prompt does not parse ({exc.msg})") from None
    funcs = [n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    entry = next((f for f in funcs if f.name == problem.entry_point), None)
    if entry is None or not isinstance(entry, ast.FunctionDef):
        raise Skip(f"the prompt defines no function {problem.entry_point!r}")
    helpers = [f.name for f in funcs if f is not entry]
    if helpers:
        raise Skip(f"the prompt defines helper function(s) the target would need: {', '.join(helpers)}")
    for node in module.body:  # imports are Python's business; a module-level text (HumanEval/64's FIX) is a note
        if not isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef) and not (
                isinstance(node, ast.Assign | ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            raise Skip("the prompt has module-level code besides imports and the function")
    a = entry.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults:
        raise Skip("the function has default, keyword-only or variadic parameters")
    cases = _parse_cases(problem.test, len(a.args))
    params = []
    for i, arg in enumerate(a.args):
        declared = _annotation(arg.annotation) if arg.annotation is not None else UNKNOWN
        params.append((arg.arg, _infer(declared, [c.args[i] for c in cases])))
    declared_ret = _annotation(entry.returns) if entry.returns is not None else UNKNOWN
    returns = _infer(declared_ret, [c.expected for c in cases])
    return Signature(task_id=problem.task_id, name=entry.name, params=tuple(params), returns=returns,
                     doc=ast.get_docstring(entry, clean=True) or "", cases=tuple(cases))


_NAMES = {"int": INT, "float": FLOAT, "bool": BOOL, "str": STR, "None": NONE, "Any": UNKNOWN, "list": Ty("list", (UNKNOWN,)),
          "List": Ty("list", (UNKNOWN,)), "dict": Ty("dict", (UNKNOWN, UNKNOWN)), "Dict": Ty("dict", (UNKNOWN, UNKNOWN))}


def _annotation(node: ast.expr) -> Ty:
    if isinstance(node, ast.Constant) and node.value is None:
        return NONE
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        outer = node.value.id
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if outer in ("List", "list") and len(inner) == 1:
            return Ty("list", (_annotation(inner[0]),))
        if outer in ("Dict", "dict") and len(inner) == 2:
            return Ty("dict", (_annotation(inner[0]), _annotation(inner[1])))
        if outer in ("Tuple", "tuple") and not any(isinstance(e, ast.Constant) and e.value is Ellipsis for e in inner):
            return Ty("tuple", tuple(_annotation(e) for e in inner))
        if outer == "Optional" and len(inner) == 1:
            return Ty("optional", (_annotation(inner[0]),))
        if outer == "Union" and len(inner) == 2 and any(isinstance(e, ast.Constant) and e.value is None for e in inner):
            return Ty("optional", (_annotation(next(e for e in inner if not isinstance(e, ast.Constant))),))
    raise Skip(f"unsupported type annotation {ast.unparse(node)!r}")


def _parse_cases(test: str, arity: int) -> list[Case]:
    try:
        module = ast.parse(test)
    except SyntaxError as exc:
        raise Skip(f"the test does not parse ({exc.msg})") from None
    check = next((n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
    if check is None or [x.arg for x in check.args.args] != ["candidate"]:
        raise Skip("the test has no check(candidate) function")
    cases = []
    for stmt in check.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom | ast.Pass) or (
                isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            continue
        if not isinstance(stmt, ast.Assert):
            raise Skip(f"the test computes its cases ({type(stmt).__name__.lower()} statement), not literal asserts")
        if isinstance(stmt.test, ast.Constant) and stmt.test.value is True:
            continue  # `assert True`: HumanEval's placeholder
        case = _case(stmt.test)
        if len(case.args) != arity:
            raise Skip(f"an assert calls the function with {len(case.args)} arguments, it takes {arity}")
        cases.append(case)
    if not cases:
        raise Skip("the test has no literal asserts")
    return cases


def _case(test: ast.expr) -> Case:
    """One assert's expression as a Case, or Skip."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return Case(_call_args(test.operand), False)
    if isinstance(test, ast.Call) and _is_candidate_call(test):
        return Case(_call_args(test), True)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, left, right = test.ops[0], test.left, test.comparators[0]
        if isinstance(op, ast.Eq | ast.Is):
            left, right = _unwrap_tuple(left), _unwrap_tuple(right)
            if _is_candidate_call(right) and not _is_candidate_call(left):
                left, right = right, left
            if _is_candidate_call(left):
                return Case(_call_args(left), _literal(right))
        if isinstance(op, ast.Lt | ast.LtE) and isinstance(left, ast.Call) and isinstance(left.func, ast.Name) \
                and left.func.id == "abs" and len(left.args) == 1 and isinstance(left.args[0], ast.BinOp) \
                and isinstance(left.args[0].op, ast.Sub):
            diff = left.args[0]
            if _is_candidate_call(diff.right):
                diff = ast.BinOp(left=diff.right, op=diff.op, right=diff.left)
            if _is_candidate_call(diff.left):
                tolerance = _literal(right)
                if isinstance(tolerance, int | float) and not isinstance(tolerance, bool) and tolerance > 0:
                    return Case(_call_args(diff.left), _literal(diff.right), float(tolerance))
    raise Skip(f"an assert is not a literal call: {ast.unparse(test)[:80]}")


def _unwrap_tuple(node: ast.expr) -> ast.expr:
    """``tuple(x)`` on both sides of ``==`` compares x's items; the literal side becomes a list again."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tuple" \
            and len(node.args) == 1 and not node.keywords:
        return node.args[0]
    return node


def _is_candidate_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "candidate"


def _call_args(node: ast.expr) -> tuple[Any, ...]:
    if not isinstance(node, ast.Call) or not _is_candidate_call(node) or node.keywords:
        raise Skip(f"an assert is not a literal call: {ast.unparse(node)[:80]}")
    return tuple(_literal(a) for a in node.args)


def _literal(node: ast.expr) -> Any:
    """A literal, or constant arithmetic on literals (``3 * 19``, ``2.0 / 3.0``, ``'ab' + 'c'``) folded here."""
    try:
        value = _fold(node)
    except (ValueError, TypeError, SyntaxError, ArithmeticError, MemoryError, RecursionError):
        raise Skip(f"an assert uses a computed value, not a literal: {ast.unparse(node)[:60]}") from None
    _check_literal(value)
    return value


_FOLD = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
         ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}


def _fold(node: ast.expr) -> Any:
    if isinstance(node, ast.List | ast.Tuple):
        items = [_fold(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_fold(k): _fold(v) for k, v in zip(node.keys, node.values) if k is not None}
    if isinstance(node, ast.BinOp):
        left, right = _fold(node.left), _fold(node.right)
        if isinstance(node.op, ast.Pow) and all(type(x) in (int, float) for x in (left, right)) and abs(right) <= 64:
            return left**right
        if type(node.op) in _FOLD and type(left) in (int, float, str) and type(right) in {int, float, type(left)}:
            if isinstance(left, str) and not isinstance(node.op, ast.Add):
                raise ValueError("only + on strings")
            return _FOLD[type(node.op)](left, right)
        raise ValueError("not constant arithmetic")
    return ast.literal_eval(node)


def _check_literal(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise Skip("an assert uses an infinite or NaN float")
    if isinstance(value, set | frozenset | bytes | complex):
        raise Skip(f"an assert uses a {type(value).__name__} literal")
    if isinstance(value, list | tuple):
        for v in value:
            _check_literal(v)
    if isinstance(value, dict):
        for k, v in value.items():
            _check_literal(k)
            _check_literal(v)


# --- types -----------------------------------------------------------------------------------------------------------

def type_of(value: Any) -> Ty:
    """The type of one literal value (``any`` where its parts do not unify)."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STR
    if isinstance(value, list):
        return Ty("list", (_unify_all([type_of(v) for v in value]),))
    if isinstance(value, tuple):
        return Ty("tuple", tuple(type_of(v) for v in value))
    if isinstance(value, dict):
        return Ty("dict", (_unify_all([type_of(k) for k in value]), _unify_all([type_of(v) for v in value.values()])))
    return ANY


def unify(a: Ty, b: Ty) -> Ty:
    """The narrowest type holding both; ``any`` when there is none (e.g. int and str)."""
    if a == b:
        return a
    if a.kind == "unknown":
        return b
    if b.kind == "unknown":
        return a
    if ANY in (a, b):
        return ANY
    if {a.kind, b.kind} == {"int", "float"}:
        return FLOAT
    if a.kind == "none" or b.kind == "none":
        other = b if a.kind == "none" else a
        return other if other.kind == "optional" else Ty("optional", (other,))
    if a.kind == "optional" or b.kind == "optional":
        inner = unify(a.args[0] if a.kind == "optional" else a, b.args[0] if b.kind == "optional" else b)
        return ANY if inner == ANY else Ty("optional", (inner,))
    if a.kind == b.kind and len(a.args) == len(b.args) and a.kind in ("list", "tuple", "dict"):
        args = tuple(unify(x, y) for x, y in zip(a.args, b.args))
        return ANY if ANY in args else Ty(a.kind, args)
    return ANY


def _unify_all(types: Sequence[Ty]) -> Ty:
    out = UNKNOWN
    for t in types:
        out = unify(out, t)
    return out


def _infer(declared: Ty, values: Sequence[Any]) -> Ty:
    return unify(declared, _unify_all([type_of(v) for v in values]))
