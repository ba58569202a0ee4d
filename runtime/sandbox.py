"""Run model-written programs in a child process each, with limits, and record what happened.

Every program runs in a fresh ``python -I -S`` interpreter started with ``subprocess`` (never ``exec`` in kizami's
own process), in an empty temporary working directory, with a scrubbed environment (``HOME`` and ``TMPDIR`` point to
that directory; nothing is inherited), stdin closed and stdout/stderr captured up to a cap. Outcomes are ``passed``
(exit 0 after the whole program ran), ``failed`` (an ``AssertionError`` ended it), ``timeout`` (wall clock) and
``error`` (anything else, with the last line of the error).

What is isolated, honestly:

Linux (what the tests check):
  * Wall clock: the program's whole process tree is killed at ``timeout_s`` (SIGKILL to its session's process group).
  * Resource limits (``resource.setrlimit`` in the child before the program's first line): CPU seconds, address space
    (``memory_mb``), size of any one file written (``file_size_mb``), open files, no core dumps, and process count.
  * If ``unshare --user --map-root-user --net --pid --fork --kill-child --mount-proc`` works (unprivileged user
    namespaces enabled), the program gets its own network namespace (only a downed loopback: no network), its own
    PID namespace (it sees and can signal only its own processes; when it ends the kernel kills every process it
    left, even ones that called ``setsid``) and its own ``/proc``.
  * When kizami runs as root, the program runs as an unprivileged uid (``run_as_uid``, default 65534 "nobody"): it
    cannot read, change or delete root's files (``/root``, pytest's 0700 temp dirs, the caller's outputs), and
    ``RLIMIT_NPROC`` (ignored for root) bounds a fork bomb. An interpreter that uid cannot execute (a pyenv under
    ``/root``) is replaced by a system ``python3``.
  * Not isolated: the file system is the host's, read with the program's uid (world-readable files are readable);
    total disk use is bounded only by ``file_size_mb`` per file, the time limit and the disk; no cgroup limits memory
    bandwidth or CPU share. Run as a normal user without user namespaces, the program has that user's rights: it can
    delete that user's files and signal that user's processes. Those tests are skipped there.

Other languages (``Program(source, language)``; ``kizami.calib_data.multipl`` writes them): the source is written
to the same temporary folder under the name its toolchain wants, compiled if the language is compiled (g++, javac,
go build, rustc, tsc) and then run, each step through the same isolation as Python (namespaces, uid, rlimits set by
a small launcher that then ``exec``s the tool, process-group kill, scrubbed environment with HOME, TMPDIR and the
compilers' caches inside the program's folder). Compilation has its own time limit (``compile_timeout_s``); a
failed compilation is an ``error`` whose detail is the compiler's first error line. The test harness prints
``kizami-done`` after its last case: an exit 0 without it is an ``error`` like Python's early ``sys.exit(0)``.
Per-language memory and thread settings are explained in ``kizami.runtime.sandbox_langs``. A missing toolchain
raises ``BackendUnavailable`` naming the Debian package to install.

macOS: only the rlimits (the kernel ignores ``RLIMIT_AS``), the session/process-group kill, the scrubbed
environment and the temporary directory. No network or file-system isolation: run untrusted completions in a VM or
container there.
"""

from __future__ import annotations

import logging
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kizami.core.errors import BackendUnavailable, KizamiError
from kizami.core.languages import SANDBOX_PATH, TOOLCHAINS, missing_tool
from kizami.runtime.sandbox_langs import RUNNERS, Runner

__all__ = ["OUTCOMES", "DONE_MARKER", "SandboxConfig", "Program", "RunResult", "Isolation", "isolation", "run_program",
           "run_programs", "require_toolchain"]

log = logging.getLogger(__name__)

OUTCOMES = ("passed", "failed", "timeout", "error")
_NAMESPACES = ("unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--")
_SYSTEM_PYTHONS = ("/usr/local/bin/python3", "/usr/bin/python3", "/bin/python3")
_DONE = b"kizami-done"
DONE_MARKER = "kizami-done"  # other languages' harnesses print it on stdout after their last case
_LIMIT_NAMES = ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_CORE")


def _set_limits(argv_index: int) -> str:
    """Child-side code that sets the limits given as ``sys.argv[argv_index]`` ("cpu,as,fsize,nproc,nofile,core")."""
    return f"""\
import os, sys, resource
for _name, _v in zip({_LIMIT_NAMES!r}, map(int, sys.argv[{argv_index}].split(","))):
    _r = getattr(resource, _name, None)
    if _r is not None and _v >= 0:
        try:
            resource.setrlimit(_r, (_v, _v + 1 if _name == "RLIMIT_CPU" else _v))
        except (ValueError, OSError):
            pass
"""


# Runs inside the child interpreter before the program: set the limits (inherited by anything it forks), then run the
# program as __main__ and, only if it got to its end, write the marker on a private pipe. An ``os._exit(0)`` or
# ``sys.exit(0)`` half-way therefore reads as an error, not as a pass. Limits are set here rather than in
# ``preexec_fn`` because ``preexec_fn`` is unsafe when threads start processes (we run many in a thread pool).
_BOOT = _set_limits(3) + """\
_fd = int(sys.argv[2])
sys.argv = sys.argv[1:2]
import runpy
runpy.run_path(sys.argv[0], run_name="__main__")
sys.stdout.flush()
os.write(_fd, b"kizami-done")
"""

# The same limits for a compiler or a compiled program, then exec it (other languages).
_EXEC = _set_limits(1) + "os.execvp(sys.argv[2], sys.argv[2:])\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxConfig:
    version: int = 1
    timeout_s: float = 3.0  # wall clock per program
    cpu_s: int | None = None  # RLIMIT_CPU; None = the timeout rounded up, plus 1
    memory_mb: int = 2048  # RLIMIT_AS
    file_size_mb: int = 64  # RLIMIT_FSIZE: the largest file the program may write
    max_processes: int = 64  # RLIMIT_NPROC (per uid; not enforced for root, hence run_as_uid)
    max_open_files: int = 256
    max_output_bytes: int = 1 << 20  # per stream; more and the program is stopped with an error
    namespaces: bool = True  # Linux: user, network, PID and mount namespaces where the kernel allows them
    run_as_uid: int | None = 65534  # only used when kizami runs as root
    python: str | None = None  # None: this interpreter, or a system python3 if the sandbox uid cannot run it
    tmp_root: Path | None = None  # where the per-program temporary folders go (default: the system's)
    compile_timeout_s: float = 30.0  # wall clock for compiling a program in a compiled language (not Python)

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if not self.compile_timeout_s > 0:
            raise ValueError(f"compile_timeout_s must be > 0, got {self.compile_timeout_s}")
        for name in ("memory_mb", "file_size_mb", "max_processes", "max_open_files", "max_output_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class Program:
    """A program's source in one of ``kizami.core.languages.TOOLCHAINS`` ("py", "js", "cpp", ...)."""

    source: str
    language: str = "py"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    outcome: str  # one of OUTCOMES
    detail: str  # last line of the error ("" when passed)
    returncode: int | None
    duration_s: float
    stdout: str
    stderr: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Isolation:
    """What this machine's sandbox actually provides (from a probe run)."""

    python: str
    namespaces: bool  # user + network + PID + mount namespaces
    uid: int | None  # the unprivileged uid programs run as, or None (kizami's own uid)
    platform: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_plans: dict[tuple[Any, ...], Isolation] = {}
_plans_lock = threading.Lock()


def isolation(config: SandboxConfig = SandboxConfig()) -> Isolation:
    """The strongest isolation that works here, found once per setting by running an empty program."""
    key = (config.namespaces, config.run_as_uid, config.python, str(config.tmp_root))
    with _plans_lock:
        if key not in _plans:
            _plans[key] = _probe(config)
        return _plans[key]


def _probe(config: SandboxConfig) -> Isolation:
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    uids = [config.run_as_uid, None] if root and config.run_as_uid is not None else [None]
    use_ns = config.namespaces and sys.platform.startswith("linux") and shutil.which("unshare") is not None
    pythons = [config.python] if config.python else [sys.executable, *(p for p in _SYSTEM_PYTHONS if os.path.exists(p))]
    tried: list[str] = []
    for uid in uids:
        for ns in ([True, False] if use_ns else [False]):
            for py in dict.fromkeys(pythons):  # keeps order, drops repeats
                plan = Isolation(python=py, namespaces=ns, uid=uid, platform=sys.platform)
                res = _run(plan, "import sys\nsys.stdout.write('ok')\n", config)
                if res.outcome == "passed" and res.stdout == "ok":
                    if (uid, ns) != (uids[0], use_ns):
                        log.warning("sandbox: weaker isolation than asked for: %s (tried: %s)", plan, "; ".join(tried))
                    return plan
                tried.append(f"{py} uid={uid} namespaces={ns}: {res.detail}")
    raise KizamiError("the sandbox cannot start a Python interpreter (" + "; ".join(tried) + "); pass a python "
                      "executable the sandbox user can run with SandboxConfig(python=...)")


def require_toolchain(language: str) -> None:
    """Raise ``BackendUnavailable`` (what to install) unless ``language``'s programs can be compiled and run here."""
    if language not in TOOLCHAINS:
        raise KizamiError(f"the sandbox runs no {language!r} programs; languages: {', '.join(TOOLCHAINS)}")
    tool = missing_tool(language)
    if tool is not None:
        chain = TOOLCHAINS[language]
        raise BackendUnavailable(f"{chain.name} programs need {tool}, not found in {SANDBOX_PATH}; install it with "
                                 f"`apt-get install {chain.debian}` (bash scripts/setup.sh does, as root)")


def run_program(source: str | Program, config: SandboxConfig = SandboxConfig()) -> RunResult:
    """Run one program (Python source text, or a ``Program`` in any language) in the sandbox; classify how it ended."""
    program = source if isinstance(source, Program) else Program(source)
    if program.language != "py":
        require_toolchain(program.language)
    return _dispatch(isolation(config), program, config)


def run_programs(programs: Sequence[str | Program], *, workers: int | None = None, timeout_s: float | None = None,
                 config: SandboxConfig = SandboxConfig(),
                 progress: Callable[[int], None] = lambda _n: None) -> list[RunResult]:
    """Run many programs (Python source texts or ``Program``s, languages mixed), ``workers`` at a time (default: one
    per core); results in the order of ``programs``. Every language's toolchain is checked before the first runs.

    Threads only wait on child processes, so the work itself spreads over the cores.
    """
    if timeout_s is not None:
        config = _replace(config, timeout_s=timeout_s)
    items = [p if isinstance(p, Program) else Program(p) for p in programs]
    for language in sorted({p.language for p in items} - {"py"}):
        require_toolchain(language)
    plan = isolation(config)  # probe once, before the pool starts
    workers = max(1, workers or os.cpu_count() or 1)

    def one(program: Program) -> RunResult:
        res = _dispatch(plan, program, config)
        progress(1)
        return res

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kizami-sandbox") as pool:
        return list(pool.map(one, items))


def _replace(config: SandboxConfig, **changes: Any) -> SandboxConfig:
    from dataclasses import replace

    return replace(config, **changes)


def _dispatch(plan: Isolation, program: Program, config: SandboxConfig) -> RunResult:
    if program.language == "py":
        return _run(plan, program.source, config)
    return _run_other(plan, program, RUNNERS[program.language], config)


def _run(plan: Isolation, source: str, config: SandboxConfig) -> RunResult:
    start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="kizami-sandbox-", dir=config.tmp_root))
    proc: subprocess.Popen[bytes] | None = None
    status_r, status_w = os.pipe()
    try:
        program = tmp / "program.py"
        program.write_text(source, encoding="utf-8")
        work = tmp / "work"
        work.mkdir(mode=0o700)
        os.chmod(tmp, 0o755)  # the sandbox uid reads program.py but cannot write next to it
        program.chmod(0o644)
        if plan.uid is not None:
            os.chown(work, plan.uid, plan.uid)
        cpu = config.cpu_s if config.cpu_s is not None else math.ceil(config.timeout_s) + 1
        limits = (cpu, config.memory_mb << 20, config.file_size_mb << 20, config.max_processes,
                  config.max_open_files, 0)
        cmd = [*(_NAMESPACES if plan.namespaces else ()), plan.python, "-I", "-S", "-X", "utf8", "-c", _BOOT,
               str(program), str(status_w), ",".join(map(str, limits))]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8"}
        drop: dict[str, Any] = {"user": plan.uid, "group": plan.uid, "extra_groups": []} if plan.uid is not None else {}
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=work, env=env, pass_fds=(status_w,), start_new_session=True, umask=0o077,
                                    **drop)
        except OSError as exc:
            return RunResult(outcome="error", detail=f"could not start the program: {exc}", returncode=None,
                             duration_s=time.monotonic() - start, stdout="", stderr="")
        os.close(status_w)
        status_w = -1
        out, err, status, stop = _collect(proc, status_r, start + config.timeout_s, config.max_output_bytes)
        rc = proc.poll()
        return _classify(stop, rc, out, err, status, time.monotonic() - start)
    finally:
        if proc is not None:
            _kill_tree(proc)
        for fd in (status_r, status_w):
            if fd >= 0:
                os.close(fd)
        _remove(tmp)


def _run_other(plan: Isolation, program: Program, runner: Runner, config: SandboxConfig) -> RunResult:
    """Compile (if the language is compiled) and run one program; both steps in the sandbox, each with its limit."""
    start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="kizami-sandbox-", dir=config.tmp_root))
    try:
        src = tmp / runner.file_name
        src.write_text(program.source, encoding="utf-8")
        work = tmp / "work"
        work.mkdir(mode=0o700)
        os.chmod(tmp, 0o755)  # the sandbox uid reads the source but cannot write next to it
        src.chmod(0o644)
        if plan.uid is not None:
            os.chown(work, plan.uid, plan.uid)
        fill = {"src": str(src), "work": str(work), "heap": str(max(64, config.memory_mb // 2))}
        env = {"PATH": SANDBOX_PATH, "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
               **{k: v.format(**fill) for k, v in runner.env}}
        if runner.compile:
            stop, rc, _out, err = _step(plan, [a.format(**fill) for a in runner.compile], env, work, runner,
                                        config, config.compile_timeout_s)
            if stop or rc != 0:
                lines = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
                first_error = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
                outcome, detail = ("timeout", "compilation timed out") if stop == "timeout" else \
                    ("error", f"compile error: {first_error[:300] or f'exit status {rc}'}")
                return RunResult(outcome=outcome, detail=detail, returncode=rc,
                                 duration_s=round(time.monotonic() - start, 4), stdout="",
                                 stderr=err.decode("utf-8", "replace"))
        stop, rc, out, err = _step(plan, [a.format(**fill) for a in runner.run], env, work, runner, config,
                                   config.timeout_s)
        text = out.decode("utf-8", "replace")
        done = text.rstrip().endswith(DONE_MARKER)
        if done:
            text = text.rstrip()[: -len(DONE_MARKER)]
        res = _classify(stop, rc, text.encode(), err, _DONE if done else b"", time.monotonic() - start)
        if res.outcome == "error" and res.detail.startswith("exited before the end"):
            res = _replace_result(res, detail="exited with status 0 before the end of its tests (an exit call?)")
        return res
    finally:
        _remove(tmp)


def _replace_result(res: RunResult, **changes: Any) -> RunResult:
    from dataclasses import replace

    return replace(res, **changes)


def _step(plan: Isolation, argv: list[str], env: dict[str, str], cwd: Path, runner: Runner, config: SandboxConfig,
          timeout_s: float) -> tuple[str, int | None, bytes, bytes]:
    """One command under the launcher: (why reading stopped, exit status, stdout, stderr)."""
    limits = (math.ceil(timeout_s) + 1, (config.memory_mb + runner.extra_memory_mb) << 20, config.file_size_mb << 20,
              max(config.max_processes, runner.min_processes), config.max_open_files, 0)
    cmd = [*(_NAMESPACES if plan.namespaces else ()), plan.python, "-I", "-S", "-c", _EXEC,
           ",".join(map(str, limits)), *argv]
    drop: dict[str, Any] = {"user": plan.uid, "group": plan.uid, "extra_groups": []} if plan.uid is not None else {}
    status_r, status_w = os.pipe()
    os.close(status_w)  # no status pipe for other languages: it reads as closed at once
    proc: subprocess.Popen[bytes] | None = None
    try:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=cwd, env=env, start_new_session=True, umask=0o077, **drop)
        except OSError as exc:
            return "", None, b"", f"could not start {argv[0]}: {exc}".encode()
        out, err, _status, stop = _collect(proc, status_r, time.monotonic() + timeout_s, config.max_output_bytes)
        return stop, proc.poll(), out, err
    finally:
        if proc is not None:
            _kill_tree(proc)
        os.close(status_r)


def _collect(proc: subprocess.Popen[bytes], status_fd: int, deadline: float,
             cap: int) -> tuple[bytes, bytes, bytes, str]:
    """Read stdout, stderr and the status pipe until they close, the deadline passes or a stream overflows.

    Returns the captured bytes and why reading stopped: "" (ended), "timeout" or "overflow:<stream>".
    """
    assert proc.stdout is not None and proc.stderr is not None
    bufs = {"stdout": bytearray(), "stderr": bytearray(), "status": bytearray()}
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
    sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
    sel.register(status_fd, selectors.EVENT_READ, "status")
    stop = ""
    try:
        while sel.get_map() and not stop:
            left = deadline - time.monotonic()
            if left <= 0:
                stop = "timeout"
                break
            events = sel.select(min(left, 0.2))
            if not events and proc.poll() is not None:
                break  # it ended but something it left behind still holds a pipe: killed below
            for key, _ in events:
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf = bufs[key.data]
                if len(buf) + len(chunk) > cap:
                    buf += chunk[: cap - len(buf)]
                    stop = f"overflow:{key.data}"
                    break
                buf += chunk
        if not stop:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                stop = "timeout"
    finally:
        sel.close()
    return bytes(bufs["stdout"]), bytes(bufs["stderr"]), bytes(bufs["status"]), stop


def _classify(stop: str, rc: int | None, out: bytes, err: bytes, status: bytes, duration: float) -> RunResult:
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    last = lines[-1][:300] if lines else ""
    if stop == "timeout":
        outcome, detail = "timeout", "timed out"
    elif stop.startswith("overflow:"):
        outcome, detail = "error", f"output limit exceeded on {stop[9:]}"
    elif rc == 0 and status == _DONE:
        outcome, detail = "passed", ""
    elif rc == 0:
        outcome, detail = "error", "exited before the end of the program (os._exit or sys.exit)"
    elif last.startswith("AssertionError"):
        outcome, detail = "failed", last
    elif rc is not None and rc < 0:
        outcome, detail = "error", last or f"killed by {_signame(-rc)}"
    else:
        outcome, detail = "error", last or f"exit status {rc}"
    return RunResult(outcome=outcome, detail=detail, returncode=rc, duration_s=round(duration, 4), stdout=stdout,
                     stderr=stderr)


def _signame(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the program's session (its process group id is its pid), reap it, then sweep /proc for stragglers
    still in that group or session. In a PID namespace the kernel has already killed everything inside."""
    pgid = proc.pid
    for _ in range(50):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
        left = _members(pgid)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _members(pgid: int) -> list[int]:
    """Live processes in process group or session ``pgid`` (Linux /proc; elsewhere only the group kill is done)."""
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after the command: state, ppid, pgrp, session
        if fields[0] != b"Z" and (int(fields[2]) == pgid or int(fields[3]) == pgid):
            found.append(int(name))
    return found


def _remove(tmp: Path) -> None:
    def unlock(func: Callable[..., Any], path: str, _exc: Any) -> None:
        try:  # a program may have made a folder unreadable: give the owner its rights back and retry
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            func(path)
        except OSError:
            pass

    shutil.rmtree(tmp, onerror=unlock)
