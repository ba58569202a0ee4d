"""Run llama.cpp's ``llama-server`` as a child process on 127.0.0.1, for the model-card tests and the FIM bench.

``serve`` starts a command on a free port, waits until ``/health`` answers, and always stops the server: on leaving
the ``with`` block (also on an error), and by itself after ``lifetime_s`` even if this process dies without cleaning
up (the command runs under coreutils ``timeout``, in its own process group, with the parent-death signal set). A port
another program took between choosing and binding is retried on a new port; a server that neither answers nor exits
within ``start_timeout_s`` is stopped and reported, never waited on forever.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kizami.core.errors import KizamiError

__all__ = ["Server", "free_port", "serve", "post"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    port: int
    pid: int
    log: Path  # the server's stdout and stderr


def free_port() -> int:
    """A port nobody listens on right now (it may be taken before the server binds it: ``serve`` retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _ports() -> Iterator[int]:
    while True:
        yield free_port()


def _die_with_parent() -> None:  # runs in the child before exec: SIGTERM when the parent dies (Linux)
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def post(url: str, path: str, body: Mapping[str, Any], *, timeout: float = 300) -> Any:
    req = urllib.request.Request(url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def serve(command: Callable[[int], Sequence[str]], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
          ports: Iterable[int] | None = None, attempts: int = 4, start_timeout_s: float = 120,
          lifetime_s: int = 1800) -> Iterator[Server]:
    """Start ``command(port)`` and yield the running server once ``/health`` answers; stop it on leaving.

    ``command`` must make the server listen on ``127.0.0.1:port``. ``ports`` (default: free ports) are tried in turn
    while the server exits before answering (a port taken in between), at most ``attempts`` times.
    """
    port_iter = iter(ports) if ports is not None else _ports()
    failures: list[str] = []
    for _ in range(attempts):
        port = next(port_iter)
        url = f"http://{HOST}:{port}"
        logfile = Path(tempfile.mkstemp(prefix=f"llama-server-{port}-", suffix=".log")[1])
        argv = ["timeout", "--kill-after=5", str(lifetime_s), *command(port)]
        with open(logfile, "wb") as out:
            proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
        try:
            deadline = time.monotonic() + start_timeout_s
            while proc.poll() is None and not _healthy(url):
                if time.monotonic() > deadline:
                    raise KizamiError(f"llama-server did not answer on {url} within {start_timeout_s:.0f} s; "
                                      f"its log: {_tail(logfile)}")
                time.sleep(0.2)
            if proc.poll() is not None:  # exited before answering: a taken port, or a real failure
                failures.append(f"port {port}: exit {proc.returncode}: {_tail(logfile)}")
                log.info("llama-server exited on port %d (%s); trying another port", port, failures[-1])
                continue
            yield Server(url=url, port=port, pid=proc.pid, log=logfile)
            return
        finally:
            _stop(proc)
    raise KizamiError(f"llama-server failed to start {attempts} times ({' | '.join(failures)}); check the model "
                      "file and that `kizami toolchain build` made llama-server")


def _tail(path: Path, n: int = 600) -> str:
    try:
        return " ".join(path.read_text(errors="replace")[-n:].split())
    except OSError:
        return "(no log)"
