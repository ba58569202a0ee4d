"""The built-in demo recipe (tiny-fcj: GPTQ, AWQ, three GGUF types, a mixed GGUF, ONNX int4, each evaluated) run
serially and on a two-node Ray cluster started on this machine, each from a fresh kizami cache (both compute their
own bf16 reference); prints every step's wall time in both runs, the critical path, the runs' wall times and whether
the metrics agree, and writes them as JSON.

The two nodes share this machine's cores: a step that runs beside another gets half the CPU it has in the serial run,
so this measures the executor's overhead and the shape of the schedule, not a speed-up a real cluster would give.

    .venv/bin/python bench/ray_demo.py --root /work/raydemo -o bench/results/ray_demo.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).with_name("ray"))
GIB = 1 << 30


def _home(root: Path, name: str) -> Path:
    from kizami.core.toolchain import cache_dir

    home = root / name
    home.mkdir(parents=True)
    for tool in cache_dir().glob("llama.cpp-*"):
        (home / tool.name).symlink_to(tool.resolve())
    return home


def _run(cmd: list[str], env: dict[str, str], log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        rc = subprocess.run(cmd, env={**env, "COLUMNS": "200"}, stdout=fh, stderr=subprocess.STDOUT, cwd=log.parent).returncode
    if rc != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {rc}; see {log}")
    return time.perf_counter() - t0


def _cluster(root: Path, env: dict[str, str], cpus: int, memory: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    common = ["--block", "--num-cpus", str(cpus), "--memory", str(memory), "--object-store-memory", "100000000",
              "--disable-usage-stats"]
    nodes = [subprocess.Popen([RAY, "start", "--head", "--port", str(port), "--temp-dir", str(root / "ray"),
                               "--include-dashboard=false", *common], env=env, start_new_session=True,
                              stdout=open(root / "head.log", "wb"), stderr=subprocess.STDOUT)]
    for _ in range(240):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    import ray

    address = f"{ray.util.get_node_ip_address()}:{port}"
    nodes.append(subprocess.Popen([RAY, "start", "--address", address, *common], env=env, start_new_session=True,
                                  stdout=open(root / "node.log", "wb"), stderr=subprocess.STDOUT))
    ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    while sum(n["Alive"] for n in ray.nodes()) < 2:
        time.sleep(0.5)
    ray.shutdown()
    return address, nodes


def _stop(nodes: list[subprocess.Popen[bytes]]) -> None:
    import psutil

    procs = []
    for n in nodes:
        try:
            procs += [psutil.Process(n.pid), *psutil.Process(n.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    for n in nodes:
        if n.poll() is None:
            os.killpg(n.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=30)
    for p in alive:
        p.kill()


def _metrics(result: dict[str, Any]) -> dict[str, Any]:
    """Every metric section, less what is timed."""
    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if not any(t in k for t in ("seconds", "tok_s", "wall_s", "elapsed"))}
        return [strip(v) for v in x] if isinstance(x, list) else x

    return {k: strip(result.get(k)) for k in ("quality", "fim", "size", "tokenizer_parity", "humaneval")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/work/raydemo"))
    ap.add_argument("--node-cpus", type=int, default=2, help="Ray CPUs per node (the demo's evaluations ask for 2 threads)")
    ap.add_argument("--node-memory-gib", type=float, default=10.0)
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args()
    root = args.root.absolute()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    from kizami.run.recipe import builtin_run_recipe

    text = builtin_run_recipe().read_text(encoding="utf-8")
    walls: dict[str, float] = {}
    for name in ("serial", "onray"):
        (root / f"{name}.toml").write_text(text.replace('out = "runs/tiny-fcj"', f'out = "{root / name}"'))
    kizami = [sys.executable, "-m", "kizami", "run"]
    walls["serial"] = _run([*kizami, str(root / "serial.toml")], {**os.environ, "KIZAMI_HOME": str(_home(root, "home-serial"))},
                           root / "serial.log")
    env = {**os.environ, "KIZAMI_HOME": str(_home(root, "home-ray")), "RAY_TMPDIR": str(root / "raytmp")}
    address, nodes = _cluster(root, env, args.node_cpus, int(args.node_memory_gib * GIB))
    try:
        walls["onray"] = _run([*kizami, str(root / "onray.toml"), "--ray", address], dict(os.environ), root / "onray.log")
    finally:
        _stop(nodes)
    serial = json.loads((root / "serial" / "results.json").read_text())
    onray = json.loads((root / "onray" / "results.json").read_text())
    s_tasks = {t["task"]: t for t in serial["schedule"]["tasks"]}
    r_tasks = {t["task"]: t for t in onray["schedule"]["tasks"]}
    print("| step | serial wall s | Ray wall s | Ray node | Ray start s |\n|---|---|---|---|---|")
    for task, r in sorted(r_tasks.items(), key=lambda kv: kv[1]["start_s"]):
        s = s_tasks.get(task, {})
        print(f"| {task} | {s.get('wall_s', float('nan')):.1f} | {r['wall_s']:.1f} | {r['node']} | {r['start_s']:.1f} |")
    same = {n: _metrics(onray["results"][n]) == _metrics(serial["results"].get(n, {})) for n in onray["results"]}
    for label, sched, wall in (("serial", serial["schedule"], walls["serial"]), ("Ray, 2 nodes", onray["schedule"], walls["onray"])):
        print(f"\n{label}: command {wall:.1f} s; run {sched['run_wall_s']:.1f} s; sum of steps {sched['sum_of_steps_s']:.1f} s; "
              f"critical path {sched['critical_path_s']:.1f} s ({' → '.join(sched['critical_path'])}); saved {sched['saved_s']:.1f} s")
    print(f"\nsame result keys: {list(onray['results']) == list(serial['results'])}; metrics equal (speed excepted): {same}")
    if args.out:
        args.out.write_text(json.dumps({"command_wall_s": walls, "serial": serial["schedule"], "ray": onray["schedule"],
                                        "metrics_equal": same, "settings": {"node_cpus": args.node_cpus,
                                                                            "node_memory_gib": args.node_memory_gib},
                                        "machine": {"cpus": os.cpu_count()}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
