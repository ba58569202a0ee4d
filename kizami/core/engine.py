"""Run an engine's command-line tool in a child process and, when it fails, quote the line that says why.

Engines (llama.cpp's converter and tools, the ONNX model builder, gptqmodel) print pages of progress; a kizami error
is one line, so the last line that names an error (or else the last line) is what the user sees, and the full
output goes to the debug log (``kizami -v``).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kizami.core.errors import KizamiError

__all__ = ["EngineError", "counted_lines", "die_with_parent", "last_error", "run_engine"]

log = logging.getLogger(__name__)


class EngineError(KizamiError):
    """An engine's tool exited with an error."""


def last_error(output: str, limit: int = 400) -> str:
    """The last output line naming an error or exception, else the last non-empty line; cut to ``limit`` chars."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "Exception" in ln or "error:" in ln]
    return (errors or lines or [""])[-1][:limit]


# Run as ``python -c _LAUNCH PARENT_PID CMD...``: ask the kernel to kill this process when its parent dies
# (Linux's PR_SET_PDEATHSIG, kept across exec), give up if the parent is already gone, then become the engine.
_LAUNCH = ("import ctypes, os, signal, sys\n"
           "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
           "if os.getppid() != int(sys.argv[1]):\n    sys.exit(1)\n"
           "os.execvp(sys.argv[2], sys.argv[2:])")


def die_with_parent(cmd: Sequence[str]) -> list[str]:
    """``cmd`` wrapped so that the kernel kills the engine when the process that started it dies, however it dies (a
    Ray worker killed by ``ray.cancel(force=True)``, SIGKILL, the OOM killer): no engine goes on writing for a run
    that is gone. A launcher rather than ``preexec_fn``, which makes Python run its fork handlers in this process,
    where a Ctrl-C arriving during the fork is swallowed. Elsewhere than Linux, ``cmd`` unchanged."""
    if not sys.platform.startswith("linux"):
        return list(map(str, cmd))
    return [sys.executable, "-I", "-c", _LAUNCH, str(os.getpid()), *map(str, cmd)]


def run_engine(cmd: Sequence[str], what: str, *, cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
               hints: Mapping[str, str] | None = None, on_line: Callable[[str], None] | None = None) -> str:
    """Run ``cmd``; return its output, or raise ``EngineError`` quoting its error. ``hints`` maps a fragment of the
    output to the message to raise instead (a known failure with a known fix). ``on_line`` sees each output line
    (stdout and stderr merged) as it is printed: progress for long runs."""
    log.info("$ %s", " ".join(map(str, cmd)))
    if on_line is None:
        proc = subprocess.run(die_with_parent(cmd), capture_output=True, text=True, errors="replace", cwd=cwd,
                              env=dict(env) if env is not None else None)
    else:
        lines: list[str] = []
        with subprocess.Popen(die_with_parent(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", cwd=cwd, env=dict(env) if env is not None else None) as child:
            assert child.stdout is not None
            try:
                for line in child.stdout:
                    lines.append(line)
                    on_line(line.rstrip("\n"))
            except BaseException:  # Ctrl-C: the engine must not go on writing
                child.kill()
                raise
        proc = subprocess.CompletedProcess(child.args, child.returncode, "".join(lines), "")
    output = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        log.info("%s output:\n%s", what, "\n".join(output.splitlines()[-60:]))
        for fragment, message in (hints or {}).items():
            if fragment in output:
                raise EngineError(message)
        raise EngineError(f"{what} failed: {last_error(proc.stderr or proc.stdout) or f'exit {proc.returncode}'}")
    return output


def counted_lines(progress: Callable[[str], None], *counters: tuple[str, str, int]) -> Callable[[str], None]:
    """An ``on_line`` for ``run_engine`` that turns an engine's own counter lines into progress with a time left.

    Each counter is ``(regex, label, total)``: a line matching ``regex`` (group 1: units done; group 2, if present:
    the total, else ``total``) is reported as ``"{label} 12/32 (41 s, ≈ 69 s left)"``, timed from the counter's first
    line, at most once per 5 % of the total (and at the end) so that a log stays readable."""
    compiled = [(re.compile(rx), label, total) for rx, label, total in counters]
    started: dict[str, tuple[float, int]] = {}  # when each counter was first seen, and its count then
    shown: dict[str, tuple[int, int]] = {}  # the last line's (twentieth, count) per counter

    def on_line(line: str) -> None:
        for rx, label, total in compiled:
            if hit := rx.search(line):
                done = int(hit.group(1))
                total = int(hit.group(2)) if rx.groups > 1 else total
                step = done * 20 // total if total else -1
                last_step, last_done = shown.get(label, (-1, -1))
                if step < 0 or done == last_done or (step == last_step and done != total):
                    return
                shown[label] = step, done
                now = time.monotonic()
                t0, first = started.setdefault(label, (now, done))
                rate = (now - t0) / (done - first) if done > first else 0.0
                left = f" ({now - t0:.0f} s, ≈ {rate * (total - done):.0f} s left)" if done > first else ""
                progress(f"{label} {done}/{total}{left}")
                return
    return on_line
