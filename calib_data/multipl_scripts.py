"""The scripting languages of ``kizami.calib_data.multipl``: PHP, Ruby, Perl, bash and R (see ``multipl_langs``)."""

from __future__ import annotations

from typing import Any, ClassVar

from kizami.calib_data.multipl_langs import DONE_MARKER, Lang, escape_quoted, float_literal
from kizami.calib_data.multipl_parse import Case, Signature, Skip, Ty

__all__ = ["SCRIPTS"]


# --- PHP, Ruby, Perl --------------------------------------------------------------------------------------------------

class Php(Lang):
    code = "php"
    typed = False
    builtin_functions = frozenset({"strlen"})  # the one HumanEval name PHP already defines (function_exists)

    def string(self, text: str) -> str:
        return escape_quoted(text, lambda c: f"\\u{{{c:x}}}", {"$": "\\$"})

    def sequence(self, items: list[str], ty: Ty) -> str:
        return "array(" + ", ".join(items) + ")"

    def mapping(self, pairs: list[tuple[str, str]], ty: Ty) -> str:
        return "array(" + ", ".join(f"{k} => {v}" for k, v in pairs) + ")"

    def prompt(self, sig: Signature) -> str:
        return f"<?php\n{self.doc(sig)}function {sig.name}({', '.join('$' + p for p, _ in sig.params)}) {{\n"

    def check(self, sig: Signature, n: int, case: Case) -> str:
        got = self.call(sig, case.args, "candidate")
        expected = self.literal(case.expected, sig.returns)
        if case.tolerance is not None:
            return f"kz_check({n}, abs({got} - {expected}) < {case.tolerance!r});"
        return f"kz_check({n}, kz_equal({got}, {expected}));"

    def harness(self, sig: Signature, checks: list[str]) -> str:
        return (f"\nfunction candidate(...$args) {{\n    return {sig.name}(...$args);\n}}\n\n"
                "function kz_equal($a, $b) {\n"
                "    if (is_array($a) && is_array($b)) {\n"
                "        if (array_is_list($b)) $a = array_values($a);  // array_filter & co. keep their keys\n"
                "        if (count($a) != count($b)) return false;\n"
                "        foreach ($b as $k => $v) {\n"
                "            if (!array_key_exists($k, $a) || !kz_equal($a[$k], $v)) return false;\n"
                "        }\n        return true;\n    }\n"
                "    if ((is_int($a) || is_float($a)) && (is_int($b) || is_float($b))) return $a == $b;\n"
                "    return $a === $b;\n}\n\n"
                "function kz_check($n, $ok) {\n    if (!$ok) {\n"
                '        fwrite(STDERR, "AssertionError: case $n\\n");\n        exit(1);\n    }\n}\n\n'
                + "\n".join(checks) + f'\necho "{DONE_MARKER}\\n";\n')


class Ruby(Lang):
    code = "rb"
    typed = False
    comment = "#"
    closer = "end"
    none = "nil"
    reserved = frozenset({"end", "def", "class", "in", "next", "begin", "then", "do", "if", "unless", "while", "until",
                          "module", "redo", "retry", "yield", "self", "super", "alias", "undef", "ensure", "rescue",
                          "case", "when", "not", "and", "or", "nil", "true", "false", "return", "break", "elsif"})

    def string(self, text: str) -> str:
        return escape_quoted(text, lambda c: f"\\u{{{c:x}}}", {"#": "\\#"})

    def name(self, name: str) -> str:
        if name[:1].isupper():  # a capitalised name is a constant in Ruby, not a parameter (HumanEval/84's N)
            name = name[0].lower() + name[1:]
        return super().name(name)

    def mapping(self, pairs: list[tuple[str, str]], ty: Ty) -> str:
        return "{" + ", ".join(f"{k} => {v}" for k, v in pairs) + "}"

    def prompt(self, sig: Signature) -> str:
        return f"{self.doc(sig)}def {sig.name}({', '.join(self.name(p) for p, _ in sig.params)})\n"

    def check(self, sig: Signature, n: int, case: Case) -> str:
        got = self.call(sig, case.args, "candidate.call")
        expected = self.literal(case.expected, sig.returns)
        if case.tolerance is not None:
            return f"kz_check({n}, ({got} - {expected}).abs < {case.tolerance!r})"
        return f"kz_check({n}, {got} == {expected})"

    def harness(self, sig: Signature, checks: list[str]) -> str:
        return ('\ndef kz_check(n, ok)\n  unless ok\n    $stderr.puts "AssertionError: case #{n}"\n    exit 1\n  end\n'
                f"end\n\ncandidate = method(:{sig.name})\n" + "\n".join(checks) + f'\nputs "{DONE_MARKER}"\n')


_PERL_EQUAL = r"""
sub kz_numeric { my ($x) = @_; return $x =~ /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/; }

sub kz_equal {
    my ($x, $y) = @_;
    return !defined $x && !defined $y if !defined $x || !defined $y;
    if (ref $x eq 'ARRAY' && ref $y eq 'ARRAY') {
        return 0 unless @$x == @$y;
        for my $i (0 .. $#$x) { return 0 unless kz_equal($x->[$i], $y->[$i]); }
        return 1;
    }
    if (ref $x eq 'HASH' && ref $y eq 'HASH') {
        return 0 unless keys %$x == keys %$y;
        for my $k (keys %$y) { return 0 unless exists $x->{$k} && kz_equal($x->{$k}, $y->{$k}); }
        return 1;
    }
    return 0 if ref $x || ref $y;
    return $x == $y if kz_numeric($x) && kz_numeric($y);
    return $x eq $y;
}

sub kz_check {
    my ($n, $ok) = @_;
    if (!$ok) { print STDERR "AssertionError: case $n\n"; exit(1); }
}
"""


class Perl(Lang):
    code = "pl"
    typed = False
    comment = "#"
    none = "undef"
    true_false = ("1", '""')

    def string(self, text: str) -> str:
        return escape_quoted(text, lambda c: f"\\x{{{c:x}}}", {"$": "\\$", "@": "\\@"})

    def mapping(self, pairs: list[tuple[str, str]], ty: Ty) -> str:
        return "{" + ", ".join(f"{k} => {v}" for k, v in pairs) + "}"

    def prompt(self, sig: Signature) -> str:
        names = ", ".join("$" + p for p, _ in sig.params)
        return f"{self.doc(sig)}sub {sig.name} {{\n" + (f"    my({names}) = @_;\n" if names else "")

    def check(self, sig: Signature, n: int, case: Case) -> str:
        got = self.call(sig, case.args, "$candidate->")
        expected = self.literal(case.expected, sig.returns)
        if case.tolerance is not None:
            return f"kz_check({n}, abs({got} - {expected}) < {case.tolerance!r});"
        if sig.returns.kind == "bool":  # Perl has no booleans: compare truth, so 0 and "" are both false
            return f"kz_check({n}, !!({got}) == !!({expected}));"
        return f"kz_check({n}, kz_equal({got}, {expected}));"

    def harness(self, sig: Signature, checks: list[str]) -> str:
        return (f"\nuse utf8;\n{_PERL_EQUAL}\nmy $candidate = \\&{sig.name};\n" + "\n".join(checks)
                + f'\nprint "{DONE_MARKER}\\n";\n')


# --- bash and R -------------------------------------------------------------------------------------------------------

class Bash(Lang):
    """Arguments are strings (lists space-separated, booleans true/false); the function prints its result."""

    code = "sh"
    typed = False
    comment = "#"
    _WORDS: ClassVar[dict[str, str]] = {"int": "an integer", "float": "a floating point", "str": "a string",
                                        "bool": "true or false", "list": "a space-separated list",
                                        "tuple": "a space-separated list"}

    def unsupported(self, ty: Ty, *, arg: bool) -> str:
        if ty.kind == "optional" and not arg:
            return self.unsupported(ty.args[0], arg=arg)
        if ty.kind in ("list", "tuple"):
            if any(a.kind not in ("int", "float", "str", "bool") for a in ty.args):
                return f"{ty}: only lists of plain values are bash words"
        elif ty.kind not in ("int", "float", "str", "bool"):
            return f"{ty} has no bash form"
        if not arg and "float" in str(ty):
            return "bash has no floating point: a float result cannot be compared as text"
        return ""

    def check_value(self, value: Any, ty: Ty) -> None:
        super().check_value(value, ty)
        if isinstance(value, list | tuple) and any(isinstance(v, str) and (not v or v != "".join(v.split()))
                                                   for v in value):
            raise Skip("a list holds strings with spaces or empty strings: not a space-separated list")

    def word(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple):
            return " ".join(self.word(v) for v in value)
        return float_literal(value) if isinstance(value, float) else str(value)

    def literal(self, value: Any, ty: Ty) -> str:
        word = self.word(float(value) if ty.kind == "float" and isinstance(value, int) else value)
        return "'" + word.replace("'", "'\\''") + "'"

    def doc_literal(self, value: Any, ty: Ty) -> str:
        return self.word(value)  # what the function prints

    def call(self, sig: Signature, args: tuple[Any, ...], fn: str = "") -> str:
        return " ".join([fn or sig.name, *(self.literal(v, t) for v, (_, t) in zip(args, sig.params))])

    def prompt(self, sig: Signature) -> str:
        params = "".join(f"# ${i} is {self._WORDS.get(t.kind, 'a value')}\n" for i, (_, t) in enumerate(sig.params, 1))
        return f"#!/bin/bash\n{self.doc(sig)}#\n{params}{sig.name}() {{\n"

    def check(self, sig: Signature, n: int, case: Case) -> str:
        return f'[[ "$({self.call(sig, case.args, "candidate")})" = {self.literal(case.expected, sig.returns)} ]] || kz_fail {n}'

    def harness(self, sig: Signature, checks: list[str]) -> str:
        return (f'\ncandidate() {{\n    {sig.name} "$@"\n}}\n\nkz_fail() {{\n    echo "AssertionError: case $1" >&2\n'
                "    exit 1\n}\n\n" + "\n".join(checks) + f"\necho {DONE_MARKER}\n")


_R_EQUAL = """\
kz_equal <- function(a, b) {
  if (length(a) == 0 && length(b) == 0) return(TRUE)
  if (is.list(a) || is.list(b)) {
    a <- as.list(a)
    b <- as.list(b)
    if (length(a) != length(b)) return(FALSE)
    for (i in seq_along(a)) if (!kz_equal(a[[i]], b[[i]])) return(FALSE)
    return(TRUE)
  }
  if (length(a) != length(b)) return(FALSE)
  if (is.numeric(a) && is.numeric(b)) return(isTRUE(all(a == b)))
  identical(as.vector(a), as.vector(b))
}

kz_check <- function(n, ok) {
  if (!isTRUE(ok)) {
    write(paste0("AssertionError: case ", n), stderr())
    quit(save = "no", status = 1)
  }
}
"""


class R(Lang):
    code = "r"
    typed = False
    comment = "#"
    none = "NULL"
    max_int = 2**53  # numbers are doubles
    true_false = ("TRUE", "FALSE")
    reserved = frozenset({"function", "if", "else", "in", "next", "break", "TRUE", "FALSE", "NULL", "repeat", "while",
                          "for", "Inf", "NaN", "NA"})

    def unsupported(self, ty: Ty, *, arg: bool) -> str:
        if ty.kind == "dict" or any(a.kind == "dict" for a in ty.args):
            return f"{ty}: dictionaries are not translated to R"
        return ""

    def string(self, text: str) -> str:
        return escape_quoted(text, lambda c: f"\\u{{{c:x}}}")

    def mapping(self, pairs: list[tuple[str, str]], ty: Ty) -> str:
        raise Skip("dictionaries are not translated to R")

    def sequence(self, items: list[str], ty: Ty) -> str:
        flat = all(a.kind in ("int", "float", "bool", "str") for a in ty.args)
        return ("c(" if flat else "list(") + ", ".join(items) + ")"

    def prompt(self, sig: Signature) -> str:
        return f"{self.doc(sig)}{sig.name} <- function({', '.join(self.name(p) for p, _ in sig.params)}) {{\n"

    def check(self, sig: Signature, n: int, case: Case) -> str:
        got = self.call(sig, case.args, "candidate")
        expected = self.literal(case.expected, sig.returns)
        if case.tolerance is not None:
            return f"kz_check({n}, abs({got} - {expected}) < {case.tolerance!r})"
        return f"kz_check({n}, kz_equal({got}, {expected}))"

    def harness(self, sig: Signature, checks: list[str]) -> str:
        return f"\n{_R_EQUAL}\ncandidate <- {sig.name}\n" + "\n".join(checks) + f'\ncat("{DONE_MARKER}\\n")\n'


SCRIPTS: tuple[Lang, ...] = (Php(), Ruby(), Perl(), Bash(), R())
