"""The languages of ``kizami.calib_data.multipl``: per language, its types, literals, prompt, test harness and stops.
This module: the shared ``Lang`` and the C-family languages (js, ts, cpp, java, go, rs); ``multipl_scripts`` holds
php, rb, pl, sh and r.

Each language is one small class: ``type_name`` (typed languages) and ``literal`` are directed by the inferred type,
so ``1`` in a ``float`` place is written ``1.0`` and ``[]`` in a ``list[str]`` place gets its element type. Harnesses
share one shape: case N fails with ``AssertionError: case N`` on stderr and exit status 1, and ``kizami-done`` is
printed after the last case.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any, ClassVar

from kizami.calib_data.multipl_parse import Case, Signature, Skip, Ty, type_of

__all__ = ["COMPILED", "DONE_MARKER", "Lang", "escape_quoted", "float_literal"]

DONE_MARKER = "kizami-done"
_INT64 = 2**63


def escape_quoted(text: str, control: Callable[[int], str], extra: dict[str, str] | None = None) -> str:
    """``"``-quoted text with C-like escapes; other control characters through ``control``; raw Unicode kept."""
    table = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", **(extra or {})}
    out = []
    for ch in text:
        if ch in table:
            out.append(table[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(control(ord(ch)))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _octal(code: int) -> str:
    return f"\\{code:03o}"  # C++: at most 3 digits, unlike \x which swallows the hex digits after it


def _braced_unicode(code: int) -> str:
    return f"\\u{{{code:x}}}"


def float_literal(value: float) -> str:
    text = repr(float(value))
    return text if any(c in text for c in ".en") else text + ".0"


class Lang:
    code: ClassVar[str]
    typed: ClassVar[bool] = True  # a typed signature: every type must be concrete
    comment: ClassVar[str] = "//"
    closer: ClassVar[str] = "}"  # the function's last line; the tests start with it
    reserved: ClassVar[frozenset[str]] = frozenset()
    max_int: ClassVar[int] = _INT64
    true_false: ClassVar[tuple[str, str]] = ("true", "false")
    none: ClassVar[str] = "null"
    builtin_functions: ClassVar[frozenset[str]] = frozenset()  # names a program cannot define again

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        return ("\n" + self.closer,)

    # -- checks ----------------------------------------------------------------------------------------------------
    def check_name(self, name: str) -> None:
        if name.lower() in self.builtin_functions:
            raise Skip(f"{name} is a built-in function of this language: it cannot be defined again")

    def check_type(self, ty: Ty, what: str, *, arg: bool) -> None:
        if self.typed and not ty.concrete():
            if ty.kind == "none":
                raise Skip(f"{what} is always None: no type to declare")
            raise Skip(f"{what} has no single type ({ty}): values of different types, or only empty collections")
        reason = self.unsupported(ty, arg=arg)
        if reason:
            raise Skip(f"{what}: {reason}")

    def unsupported(self, ty: Ty, *, arg: bool) -> str:
        """Why this language cannot take ``ty`` ("" if it can)."""
        return ""

    def check_value(self, value: Any, ty: Ty) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and not -self.max_int <= value < self.max_int:
            raise Skip(f"the integer {value} does not fit this language's integers")
        if isinstance(value, list | tuple):
            for v in value:
                self.check_value(v, ty)
        if isinstance(value, dict):
            for k, v in value.items():
                self.check_value(k, ty)
                self.check_value(v, ty)

    # -- text ------------------------------------------------------------------------------------------------------
    def name(self, name: str) -> str:
        return name + "_" if name in self.reserved else name

    def literal(self, value: Any, ty: Ty) -> str:
        """``value`` written in this language as a ``ty``; an untyped place (unknown/any) uses the value's own type."""
        if ty.kind in ("unknown", "any"):
            ty = type_of(value)
        if ty.kind == "optional":
            return self.none if value is None else self.some(self.literal(value, ty.args[0]), ty.args[0])
        if value is None:
            return self.none
        if ty.kind == "bool":
            return self.true_false[0] if value else self.true_false[1]
        if ty.kind == "int":
            return str(value)
        if ty.kind == "float":
            return float_literal(value)
        if ty.kind == "str":
            return self.string(value)
        if ty.kind == "list":
            return self.sequence([self.literal(v, ty.args[0]) for v in value], ty)
        if ty.kind == "tuple":
            return self.tuple_([self.literal(v, t) for v, t in zip(value, ty.args)], ty)
        if ty.kind == "dict":
            return self.mapping([(self.literal(k, ty.args[0]), self.literal(v, ty.args[1])) for k, v in value.items()],
                                ty)
        raise Skip(f"no way to write a {ty} literal")

    def doc_literal(self, value: Any, ty: Ty) -> str:
        """A docstring example's result as the reader should expect it."""
        return self.literal(value, ty)

    def some(self, inner: str, ty: Ty) -> str:
        return inner

    def string(self, text: str) -> str:
        return escape_quoted(text, lambda c: f"\\u{c:04x}")

    def sequence(self, items: list[str], ty: Ty) -> str:
        return "[" + ", ".join(items) + "]"

    def tuple_(self, items: list[str], ty: Ty) -> str:
        return self.sequence(items, ty)

    def mapping(self, pairs: list[tuple[str, str]], ty: Ty) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"

    def call(self, sig: Signature, args: tuple[Any, ...], fn: str = "") -> str:
        rendered = [self.literal(v, t) for v, (_, t) in zip(args, sig.params)]
        return f"{fn or sig.name}({', '.join(rendered)})"

    def doc(self, sig: Signature, indent: str = "") -> str:
        """The docstring as comment lines, its ``>>> f(...)`` examples (and their results) in this language."""
        lines = sig.doc.splitlines()
        out = []
        expect_result = False
        for line in lines:
            new = line
            if expect_result and line.strip():
                try:
                    new = line[: len(line) - len(line.lstrip())] + self.doc_literal(ast.literal_eval(line.strip()),
                                                                                     sig.returns)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, Skip):
                    new = line
            expect_result = False
            match = re.match(r"^(\s*>>>\s*)(.*)$", line)
            if match:
                new = match.group(1) + self._doc_call(sig, match.group(2))
                expect_result = new != line
            out.append(f"{indent}{self.comment} {new}".rstrip())
        return "\n".join(out) + "\n" if out else ""

    def _doc_call(self, sig: Signature, text: str) -> str:
        try:
            node = ast.parse(text.strip(), mode="eval").body
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == sig.name \
                    and not node.keywords and len(node.args) == len(sig.params):
                return self.call(sig, tuple(ast.literal_eval(a) for a in node.args))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, Skip):
            pass
        return text

    def prompt(self, sig: Signature) -> str:
        raise NotImplementedError

    def tests(self, sig: Signature) -> str:
        checks = [self.check(sig, n, case) for n, case in enumerate(sig.cases, 1)]
        return "\n" + self.closer + "\n" + self.harness(sig, checks)

    def check(self, sig: Signature, n: int, case: Case) -> str:
        raise NotImplementedError

    def harness(self, sig: Signature, checks: list[str]) -> str:
        raise NotImplementedError


# --- JavaScript and TypeScript ------------------------------------------------------------------------------------------

_JS_EQUAL = """\
function kzEqual(a: any, b: any): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x: any, i: number) => kzEqual(x, b[i]));
  }
  if (typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    return kzEqual(ka, kb) && ka.every((k: string) => kzEqual(a[k], b[k]));
  }
  return a === b;
}
function kzCheck(n: number, ok: boolean): void {
  if (!ok) {
    process.stderr.write(`AssertionError: case ${n}\\n`);
    process.exit(1);
  }
}
"""


class JavaScript(Lang):
    code = "js"
    typed = False
    none = "undefined"
    max_int = 2**53  # numbers are doubles
    reserved = frozenset({"class", "new", "default", "function", "var", "let", "delete", "in", "package", "interface",
                          "arguments", "eval", "this", "typeof", "void", "with", "yield", "enum", "const"})

    def mapping(self, pairs: list[tuple[str, str]], ty: Ty) -> str:
        if ty.args[0].kind not in ("str", "int", "unknown"):
            raise Skip(f"{ty}: object keys must be strings or integers")
        return super().mapping(pairs, ty)

    def unsupported(self, ty: Ty, *, arg: bool) -> str:
        if ty.kind == "dict" and ty.args[0].kind not in ("str", "int", "unknown"):
            return f"{ty}: object keys must be strings or integers"
        return ""

    def signature(self, sig: Signature) -> str:
        return f"function {sig.name}({', '.join(self.name(p) for p, _ in sig.params)}) {{\n"

    def prompt(self, sig: Signature) -> str:
        return self.doc(sig) + self.signature(sig)

    def check(self, sig: Signature, n: int, case: Case) -> str:
        got = self.call(sig, case.args, "candidate")
        if case.tolerance is not None:
            return f"kzCheck({n}, Math.abs({got} - {self.literal(case.expected, sig.returns)}) < {case.tolerance!r});"
        return f"kzCheck({n}, kzEqual({got}, {self.literal(case.expected, sig.returns)}));"

    def harness(self, sig: Signature, checks: list[str]) -> str:
        head = re.sub(r": (any|number|string|boolean|void)\b", "", _JS_EQUAL)  # the TypeScript harness, untyped
        return f"\n{head}\nconst candidate = {sig.name};\n" + "\n".join(checks) + f'\nconsole.log("{DONE_MARKER}");\n'


class TypeScript(JavaScript):
    code = "ts"
    typed = True

    def type_name(self, ty: Ty) -> str:
        k = ty.kind
        if k in ("int", "float"):
            return "number"
        if k in ("bool", "str"):
            return {"bool": "boolean", "str": "string"}[k]
        if k == "list":
            inner = self.type_name(ty.args[0])
            return f"({inner})[]" if " " in inner else f"{inner}[]"
        if k == "tuple":
            return "[" + ", ".join(self.type_name(a) for a in ty.args) + "]"
        if k == "dict":
            return f"{{[key: {self.type_name(ty.args[0])}]: {self.type_name(ty.args[1])}}}"
        if k == "optional":
            return f"{self.type_name(ty.args[0])} | undefined"
        raise Skip(f"no TypeScript type for {ty}")

    def signature(self, sig: Signature) -> str:
        params = ", ".join(f"{self.name(p)}: {self.type_name(t)}" for p, t in sig.params)
        return f"function {sig.name}({params}): {self.type_name(sig.returns)} {{\n"

    def harness(self, sig: Signature, checks: list[str]) -> str:
        head = _JS_EQUAL
        return (f"\ndeclare const process: any;\n{head}\nconst candidate = {sig.name};\n" + "\n".join(checks)
                + f'\nconsole.log("{DONE_MARKER}");\n')


# --- C++ ------------------------------------------------------------------------------------------------------------

class Cpp(Lang):
    code = "cpp"
    reserved = frozenset({"operator", "new", "delete", "class", "default", "int", "float", "double", "char", "bool",
                          "long", "short", "template", "this", "union", "register", "auto", "and", "or", "not", "xor",
                          "namespace", "typename", "signed", "unsigned", "private", "public", "friend", "virtual"})
    none = "std::nullopt"

    def type_name(self, ty: Ty) -> str:
        simple = {"int": "long", "float": "double", "bool": "bool", "str": "std::string"}
        if ty.kind in simple:
            return simple[ty.kind]
        args = ", ".join(self.type_name(a) for a in ty.args)
        return {"list": "std::vector<{}>", "tuple": "std::tuple<{}>", "dict": "std::map<{}>",
                "optional": "std::optional<{}>"}[ty.kind].format(args)

    def some(self, inner: str, ty: Ty) -> str:
        return f"std::optional<{self.type_name(ty)}>({inner})"

    def string(self, text: str) -> str:
        return f"std::string({escape_quoted(text, _octal)})"

    def sequence(self, items: list[str], ty: Ty) -> str:
        return f"{self.type_name(ty)}({{{', '.join(items)}}})"

    def tuple_(self, items: list[str], ty: Ty) -> str:
        return f"{self.type_name(ty)}({', '.join(items)})"

    def mapping(self, pairs: list[tuple[str, str]], ty: Ty) -> str:
        return f"{self.type_name(ty)}({{{', '.join(f'{{{k}, {v}}}' for k, v in pairs)}}})"

    def prompt(self, sig: Signature) -> str:
        params = ", ".join(f"{self.type_name(t)} {self.name(p)}" for p, t in sig.params)
        return (f"#include<assert.h>\n#include<bits/stdc++.h>\n{self.doc(sig)}"
                f"{self.type_name(sig.returns)} {sig.name}({params}) {{\n")

    def check(self, sig: Signature, n: int, case: Case) -> str:
        got = self.call(sig, case.args)  # called by name: overloads (C's strlen) rule out a function pointer
        expected = self.literal(case.expected, sig.returns)
        ok = f"std::abs({got} - {expected}) < {case.tolerance!r}" if case.tolerance is not None \
            else f"{got} == {expected}"
        return f'    if (!({ok})) {{ std::cerr << "AssertionError: case {n}" << std::endl; return 1; }}'

    def harness(self, sig: Signature, checks: list[str]) -> str:
        return ("int main() {\n" + "\n".join(checks)
                + f'\n    std::cout << "{DONE_MARKER}" << std::endl;\n    return 0;\n}}\n')


# --- Java -----------------------------------------------------------------------------------------------------------

class Java(Lang):
    code = "java"
    closer = "    }"
    reserved = frozenset({"int", "char", "class", "default", "new", "package", "final", "float", "long", "short",
                          "double", "boolean", "interface", "static", "public", "private", "this", "super", "switch",
                          "case", "import", "native", "enum", "assert", "const", "goto", "byte", "void"})
    none = "Optional.empty()"

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        return ("\n    }\n",)

    def unsupported(self, ty: Ty, *, arg: bool) -> str:
        if ty.kind == "tuple" and len(ty.args) != 2:
            return f"{ty}: only pairs have a Java type here (Pair)"
        return next((r for a in ty.args if (r := self.unsupported(a, arg=arg))), "")

    def type_name(self, ty: Ty, boxed: bool = False) -> str:
        simple = {"int": ("long", "Long"), "float": ("double", "Double"), "bool": ("boolean", "Boolean"),
                  "str": ("String", "String")}
        if ty.kind in simple:
            return simple[ty.kind][boxed]
        args = ", ".join(self.type_name(a, True) for a in ty.args)
        return {"list": "ArrayList<{}>", "tuple": "Pair<{}>", "dict": "HashMap<{}>",
                "optional": "Optional<{}>"}[ty.kind].format(args)

    def literal(self, value: Any, ty: Ty) -> str:
        text = super().literal(value, ty)
        return text + "L" if ty.kind == "int" else text

    def some(self, inner: str, ty: Ty) -> str:
        return f"Optional.of({inner})"

    def sequence(self, items: list[str], ty: Ty) -> str:
        kind = self.type_name(ty)
        return f"new {kind}(Arrays.asList({', '.join(items)}))" if items else f"new {kind}()"

    def tuple_(self, items: list[str], ty: Ty) -> str:
        return f"new {self.type_name(ty)}({', '.join(items)})"

    def mapping(self, pairs: list[tuple[str, str]], ty: Ty) -> str:
        entries = ", ".join(f"Map.entry({k}, {v})" for k, v in pairs)
        return f"new {self.type_name(ty)}(Map.ofEntries({entries}))"

    def _uses_pair(self, sig: Signature) -> bool:
        return "tuple" in (str(sig.returns) + "".join(str(t) for _, t in sig.params))

    def prompt(self, sig: Signature) -> str:
        params = ", ".join(f"{self.type_name(t)} {self.name(p)}" for p, t in sig.params)
        pair = "    record Pair<A, B>(A first, B second) {}\n" if self._uses_pair(sig) else ""
        return ("import java.util.*;\nimport java.util.stream.*;\n\nclass Problem {\n" + pair + self.doc(sig, "    ")
                + f"    public static {self.type_name(sig.returns)} {sig.name}({params}) {{\n")

    def check(self, sig: Signature, n: int, case: Case) -> str:
        got = self.call(sig, case.args)
        expected = self.literal(case.expected, sig.returns)
        if case.tolerance is not None:
            return f"        kzCheck({n}, Math.abs({got} - {expected}) < {case.tolerance!r});"
        return f"        kzCheck({n}, Objects.equals({got}, {expected}));"

    def harness(self, sig: Signature, checks: list[str]) -> str:
        return ("    static void kzCheck(int n, boolean ok) {\n        if (!ok) {\n"
                '            System.err.println("AssertionError: case " + n);\n            System.exit(1);\n'
                "        }\n    }\n    public static void main(String[] args) {\n" + "\n".join(checks)
                + f'\n        System.out.println("{DONE_MARKER}");\n    }}\n}}\n')


# --- Go -------------------------------------------------------------------------------------------------------------

_GO_IMPORTS = ("fmt", "math", "os", "reflect", "sort", "strconv", "strings", "unicode")
# Go refuses unused imports and the prompt cannot know which the body needs: the harness uses each one once.
_GO_KEEP = "var _ = math.Abs\nvar _ = sort.Ints\nvar _ = strconv.Itoa\nvar _ = strings.Split\nvar _ = unicode.IsUpper\n"
_GO_EQUAL = """\
func kzCheck(n int, ok bool) {
	if !ok {
		fmt.Fprintf(os.Stderr, "AssertionError: case %d\\n", n)
		os.Exit(1)
	}
}

// kzEqual is reflect.DeepEqual except that a nil slice equals an empty one.
func kzEqual(a, b interface{}) bool { return kzEq(reflect.ValueOf(a), reflect.ValueOf(b)) }

func kzEq(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice && b.Kind() == reflect.Slice {
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !kzEq(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}
"""


class Go(Lang):
    code = "go"
    reserved = frozenset({"string", "int", "float64", "bool", "len", "range", "type", "func", "map", "go", "default",
                          "var", "interface", "package", "select", "chan", "import", "byte", "rune", "append",
                          "copy", "make", "new", "cap", "close", "delete", "struct", "switch", "case", "defer",
                          "fallthrough", "goto", "const", "error", "true", "false", "nil", "fmt", "math", "os",
                          "reflect", "sort", "strconv", "strings", "unicode"})
    none = "nil"

    def unsupported(self, ty: Ty, *, arg: bool) -> str:
        if ty.kind == "optional":
            return f"{ty}: Go has no optional values"
        if ty.kind == "tuple" and (arg or any(a.kind == "tuple" for a in ty.args)):
            return f"{ty}: a tuple is a Go type only as multiple results"
        return next((r for a in ty.args if (r := self.unsupported(a, arg=True))), "")

    def type_name(self, ty: Ty) -> str:
        simple = {"int": "int", "float": "float64", "bool": "bool", "str": "string"}
        if ty.kind in simple:
            return simple[ty.kind]
        if ty.kind == "list":
            return "[]" + self.type_name(ty.args[0])
        if ty.kind == "dict":
            return f"map[{self.type_name(ty.args[0])}]{self.type_name(ty.args[1])}"
        return "(" + ", ".join(self.type_name(a) for a in ty.args) + ")"  # a tuple: multiple results

    def sequence(self, items: list[str], ty: Ty) -> str:
        return f"{self.type_name(ty)}{{{', '.join(items)}}}"

    def tuple_(self, items: list[str], ty: Ty) -> str:
        return "[]interface{}{" + ", ".join(items) + "}"

    def mapping(self, pairs: list[tuple[str, str]], ty: Ty) -> str:
        return f"{self.type_name(ty)}{{{', '.join(f'{k}: {v}' for k, v in pairs)}}}"

    def prompt(self, sig: Signature) -> str:
        params = ", ".join(f"{self.name(p)} {self.type_name(t)}" for p, t in sig.params)
        imports = "".join(f'\t"{m}"\n' for m in _GO_IMPORTS)
        return (f"package main\n\nimport (\n{imports})\n\n{self.doc(sig)}"
                f"func {sig.name}({params}) {self.type_name(sig.returns)} {{\n")

    def check(self, sig: Signature, n: int, case: Case) -> str:
        got = self.call(sig, case.args, "candidate")
        expected = self.literal(case.expected, sig.returns)
        if case.tolerance is not None:
            return f"\tkzCheck({n}, math.Abs({got}-{expected}) < {case.tolerance!r})"
        if sig.returns.kind == "tuple":
            names = ", ".join(f"r{i}" for i in range(len(sig.returns.args)))
            return f"\t{{\n\t\t{names} := {got}\n\t\tkzCheck({n}, kzEqual([]interface{{}}{{{names}}}, {expected}))\n\t}}"
        return f"\tkzCheck({n}, kzEqual({got}, {expected}))"

    def harness(self, sig: Signature, checks: list[str]) -> str:
        return (f"\n{_GO_EQUAL}\n{_GO_KEEP}\nfunc main() {{\n\tcandidate := {sig.name}\n" + "\n".join(checks)
                + f'\n\tfmt.Println("{DONE_MARKER}")\n}}\n')


# --- Rust -----------------------------------------------------------------------------------------------------------

class Rust(Lang):
    code = "rs"
    comment = "///"
    none = "None"
    reserved = frozenset({"type", "ref", "move", "fn", "match", "loop", "str", "self", "crate", "impl", "mod", "use",
                          "where", "in", "as", "box", "const", "dyn", "enum", "extern", "let", "mut", "pub", "static",
                          "struct", "super", "trait", "unsafe", "while", "yield", "async", "await", "macro"})

    def unsupported(self, ty: Ty, *, arg: bool) -> str:
        if ty.kind == "dict" and ty.args[0].kind == "float":
            return f"{ty}: f64 cannot be a HashMap key"
        return next((r for a in ty.args if (r := self.unsupported(a, arg=arg))), "")

    def type_name(self, ty: Ty) -> str:
        simple = {"int": "i64", "float": "f64", "bool": "bool", "str": "String"}
        if ty.kind in simple:
            return simple[ty.kind]
        args = ", ".join(self.type_name(a) for a in ty.args)
        return {"list": "Vec<{}>", "tuple": "({})", "dict": "HashMap<{}>", "optional": "Option<{}>"}[ty.kind].format(args)

    def some(self, inner: str, ty: Ty) -> str:
        return f"Some({inner})"

    def string(self, text: str) -> str:
        return f"String::from({escape_quoted(text, _braced_unicode)})"

    def sequence(self, items: list[str], ty: Ty) -> str:
        # an empty vec![] compared with `==` has no element type to infer (Vec<T>: PartialEq<Vec<U>>): name it
        return f"vec![{', '.join(items)}]" if items else f"Vec::<{self.type_name(ty.args[0])}>::new()"

    def tuple_(self, items: list[str], ty: Ty) -> str:
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"

    def mapping(self, pairs: list[tuple[str, str]], ty: Ty) -> str:
        if not pairs:
            return f"HashMap::<{self.type_name(ty.args[0])}, {self.type_name(ty.args[1])}>::new()"
        return f"HashMap::from([{', '.join(f'({k}, {v})' for k, v in pairs)}])"

    def prompt(self, sig: Signature) -> str:
        params = ", ".join(f"{self.name(p)}: {self.type_name(t)}" for p, t in sig.params)
        return (f"use std::collections::HashMap;\n\n{self.doc(sig)}"
                f"fn {sig.name}({params}) -> {self.type_name(sig.returns)} {{\n")

    def check(self, sig: Signature, n: int, case: Case) -> str:
        got = self.call(sig, case.args, "candidate")
        expected = self.literal(case.expected, sig.returns)
        if case.tolerance is not None:
            return f"    kz_check({n}, ({got} - {expected}).abs() < {case.tolerance!r});"
        return f"    kz_check({n}, {got} == {expected});"

    def harness(self, sig: Signature, checks: list[str]) -> str:
        return ('\nfn kz_check(n: usize, ok: bool) {\n    if !ok {\n        eprintln!("AssertionError: case {}", n);\n'
                "        std::process::exit(1);\n    }\n}\n\nfn main() {\n"
                f"    let candidate = {sig.name};\n" + "\n".join(checks) + f'\n    println!("{DONE_MARKER}");\n}}\n')


class Python(Lang):
    code = "py"


COMPILED: tuple[Lang, ...] = (Python(), JavaScript(), TypeScript(), Cpp(), Java(), Go(), Rust())
