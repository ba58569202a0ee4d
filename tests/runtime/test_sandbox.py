"""The sandbox against hostile programs: each is contained and recorded, the run goes on, nothing outside its
temporary folder changes and no process is left behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kizami.runtime.sandbox import SandboxConfig, isolation, run_program, run_programs

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the sandbox needs POSIX process groups and rlimits")


@pytest.fixture(scope="module")
def sb_root() -> Iterator[Path]:
    """A traversable folder for the per-program temp dirs (pytest's own are 0700 to everyone but us); its unique
    name is also how the leak check finds sandbox processes."""
    root = Path(tempfile.mkdtemp(prefix="kizami-sbtest-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cfg(sb_root: Path) -> SandboxConfig:
    return SandboxConfig(timeout_s=2.0, tmp_root=sb_root)


def _separated(cfg: SandboxConfig) -> bool:
    """True when programs cannot touch kizami's files or processes: another uid, or namespaces."""
    plan = isolation(cfg)
    return plan.uid is not None or (plan.namespaces and os.geteuid() != 0)


def _sandbox_processes(marker: str) -> list[str]:
    """Processes still alive whose command line names the test's sandbox folder (children of ours included)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    found = []
    if psutil is not None:
        me = psutil.Process()
        found += [f"child {c.pid}" for c in me.children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]
        for p in psutil.process_iter(["pid", "cmdline"]):
            if marker in " ".join(p.info["cmdline"] or ()):
                found.append(f"{p.info['pid']}: {p.info['cmdline']}")
        return found
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def test_hostile_programs_are_contained_and_recorded(tmp_path: Path, cfg: SandboxConfig, sb_root: Path) -> None:
    if not _separated(cfg):
        pytest.skip(f"no uid or namespace separation here ({isolation(cfg)}): a hostile program could harm the run")
    canary = tmp_path / "canary.txt"
    canary.write_text("secret-canary-7f3a")
    home = Path.home()
    before_home = sorted(p.name for p in home.iterdir())
    hostile = {
        "endless loop": "while True:\n    pass\n",
        "fork bomb": "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n",
        "allocate 100 GB": "x = bytearray(100 * 2**30)\n",
        "write 10 GB": "with open('big', 'wb') as f:\n    for _ in range(10 * 1024):\n        f.write(b'0' * 2**20)\n",
        "delete outside": f"import os, shutil\nos.remove({str(canary)!r})\nshutil.rmtree({str(tmp_path)!r})\n",
        "kill parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\n",
        "print 1 GB": "import sys\nfor _ in range(1024):\n    sys.stdout.write('x' * 2**20)\n",
        "os._exit mid-way": "import os\nos._exit(0)\nassert False\n",
        "read home": f"import os\nprint(os.path.expanduser('~'), os.listdir(os.path.expanduser('~')))\n"
                     f"print(open({str(canary)!r}).read())\nprint(os.listdir({str(home)!r}))\n",
        "daemon left behind": "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n",
        "honest pass": "assert sum(range(10)) == 45\n",
        "honest fail": "assert sum(range(10)) == 46, 'wrong sum'\n",
    }
    t0 = time.monotonic()
    results = dict(zip(hostile, run_programs(list(hostile.values()), workers=2, config=cfg)))
    took = time.monotonic() - t0
    got = {name: r.outcome for name, r in results.items()}
    assert got["endless loop"] == "timeout"
    assert got["fork bomb"] in ("timeout", "error")
    assert got["allocate 100 GB"] == "error" and "MemoryError" in results["allocate 100 GB"].detail
    assert got["write 10 GB"] == "error" and "File too large" in results["write 10 GB"].detail
    assert got["delete outside"] == "error" and "Permission" in results["delete outside"].detail
    assert got["kill parent"] == "error"
    assert got["print 1 GB"] == "error" and "output limit" in results["print 1 GB"].detail
    assert len(results["print 1 GB"].stdout) <= cfg.max_output_bytes
    assert got["os._exit mid-way"] == "error" and "before the end" in results["os._exit mid-way"].detail
    assert got["read home"] == "error" and "secret-canary" not in results["read home"].stdout
    assert got["daemon left behind"] == "passed"
    assert got["honest pass"] == "passed"
    assert got["honest fail"] == "failed" and results["honest fail"].detail == "AssertionError: wrong sum"
    assert took < 30, f"the batch took {took:.1f} s"
    # nothing outside the temp folders changed, nothing left behind
    assert canary.read_text() == "secret-canary-7f3a"
    assert sorted(p.name for p in home.iterdir()) == before_home
    assert list(sb_root.iterdir()) == []
    assert _sandbox_processes(str(sb_root)) == []


def test_environment_home_and_working_folder_are_fresh(cfg: SandboxConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIZAMI_TEST_SECRET", "do-not-leak")
    prog = ("import os, sys\nprint(sorted(os.environ))\nprint(os.getcwd() == os.path.expanduser('~'))\n"
            "print(os.listdir('.'))\nprint(sys.flags.isolated)\n")
    r = run_program(prog, cfg)
    assert r.outcome == "passed", r.stderr
    env, same, listing, isolated = r.stdout.splitlines()
    assert "KIZAMI_TEST_SECRET" not in env and "PYTHONPATH" not in env
    assert same == "True" and listing == "[]" and isolated == "1"


def test_no_network_when_namespaces_work(cfg: SandboxConfig) -> None:
    if not isolation(cfg).namespaces:
        pytest.skip("user/network namespaces are not available here")
    r = run_program("import socket\nprint([n for _, n in socket.if_nameindex()])\n", cfg)
    assert r.stdout.strip() == "['lo']"


def test_timeout_and_output_cap_are_configurable(sb_root: Path) -> None:
    cfg = SandboxConfig(timeout_s=0.5, max_output_bytes=1000, tmp_root=sb_root)
    t0 = time.monotonic()
    r = run_program("import time\ntime.sleep(30)\n", cfg)
    assert r.outcome == "timeout" and time.monotonic() - t0 < 5
    r = run_program("print('y' * 5000)\n", cfg)
    assert r.outcome == "error" and len(r.stdout) == 1000


def test_results_keep_program_order_and_errors_give_the_last_line(cfg: SandboxConfig) -> None:
    progs = [f"import time\ntime.sleep({0.3 - i / 10})\nprint({i})\n" for i in range(3)]
    progs += ["def f(:\n", "raise KeyError('k')\n", "import sys\nsys.exit(3)\n"]
    res = run_programs(progs, workers=2, config=cfg)
    assert [r.stdout.strip() for r in res[:3]] == ["0", "1", "2"]
    assert [r.outcome for r in res] == ["passed"] * 3 + ["error"] * 3
    assert res[3].detail.startswith("SyntaxError") and res[4].detail == "KeyError: 'k'"
    assert res[5].returncode == 3
    assert res[0].to_dict()["outcome"] == "passed"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        SandboxConfig(timeout_s=0)
    with pytest.raises(ValueError, match="memory_mb"):
        SandboxConfig(memory_mb=0)


def test_the_interpreter_is_a_fresh_child_process(cfg: SandboxConfig) -> None:
    r = run_program("import os\nprint(os.getpid())\n", cfg)
    assert r.outcome == "passed" and int(r.stdout) != os.getpid()
