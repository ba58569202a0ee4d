"""The toolchains that run model-written programs in each language: which programs, from which Debian package.

Data only (read by the sandbox and by ``kizami doctor``). Tools are looked up on the sandbox's own ``PATH``
(system folders only): a compiler under ``/root`` (rustup's) cannot be run by the sandbox's unprivileged uid.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["SANDBOX_PATH", "Toolchain", "TOOLCHAINS", "find_tool", "missing_tool", "toolchain_version"]

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True, slots=True)
class Toolchain:
    language: str  # kizami's code for it: "cpp", "rs", ...
    name: str
    tools: tuple[str, ...]  # programs that must be on SANDBOX_PATH
    debian: str  # the Debian package that installs them
    version_args: tuple[str, ...]  # prints the version (first non-empty line of stdout or stderr)


TOOLCHAINS: dict[str, Toolchain] = {t.language: t for t in (
    Toolchain("py", "Python", ("python3",), "python3", ("python3", "--version")),
    Toolchain("js", "JavaScript", ("node",), "nodejs", ("node", "--version")),
    Toolchain("ts", "TypeScript", ("tsc", "node"), "node-typescript", ("tsc", "--version")),
    Toolchain("cpp", "C++", ("g++",), "g++", ("g++", "--version")),
    Toolchain("java", "Java", ("javac", "java"), "default-jdk-headless", ("javac", "-version")),
    Toolchain("go", "Go", ("go",), "golang-go", ("go", "version")),
    Toolchain("rs", "Rust", ("rustc",), "rustc", ("rustc", "--version")),
    Toolchain("php", "PHP", ("php",), "php-cli", ("php", "--version")),
    Toolchain("rb", "Ruby", ("ruby",), "ruby", ("ruby", "--version")),
    Toolchain("pl", "Perl", ("perl",), "perl", ("perl", "-e", "print qq(perl $^V)")),
    Toolchain("sh", "bash", ("bash",), "bash", ("bash", "--version")),
    Toolchain("r", "R", ("Rscript",), "r-base-core", ("Rscript", "--version")),
)}


def find_tool(name: str) -> str | None:
    return shutil.which(name, path=SANDBOX_PATH)


def missing_tool(language: str) -> str | None:
    """The first of the language's programs not on the sandbox's PATH, or None when all are there."""
    return next((t for t in TOOLCHAINS[language].tools if find_tool(t) is None), None)


def toolchain_version(language: str) -> str | None:
    """The toolchain's version line, or None when it is missing or does not answer."""
    chain = TOOLCHAINS[language]
    exe = find_tool(chain.version_args[0])
    if exe is None or missing_tool(language):
        return None
    try:
        done = subprocess.run([exe, *chain.version_args[1:]], capture_output=True, text=True, timeout=20,
                              env={"PATH": SANDBOX_PATH, "HOME": "/tmp", "LANG": "C.UTF-8"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln.strip() for ln in (done.stdout + "\n" + done.stderr).splitlines() if ln.strip()]
    return lines[0] if lines else None
