"""`kizami run --ray` on a real Ray cluster started on this machine: a head and a second node, each a `ray start`
process with its own CPUs, memory and temp folder. A small recipe runs serially and on the cluster (with the worker of
a build killed mid-build) and the two must give the same results; a driver stopped by Ctrl-C must leave no task of
its run behind (and another job's task running); a step that fits on no node and a node that cannot see `out` are
refused before any work. The cluster is always stopped, by the ids of the processes it started, also when a test
fails."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kizami.core import manifest
from kizami.core.errors import KizamiError
from kizami.run import cost
from tests.engines import require

RECIPE = """
name = "ray-check"
model = "tiny-fcj"
out = "{out}"

[calib]
samples = 8
seq_len = 128
fim_per_language = 2

[[build]]
format = "onnx"
precisions = ["int4"]

[[build]]
format = "gguf"
name = "gguf"
types = ["q8_0"]
imatrix = "none"

[eval]
ctx = 128
stride = 64
threads = 1
max_tokens_per_domain = 400
fim_limit = 4
metrics = ["quality", "fim", "size", "parity"]

[bundle]
license = "apache-2.0"

[run]
cpus = 1
"""

GIB = 1 << 30
NODE_MEMORY = 4 * GIB  # each node's `memory` resource: the refusal test's 8B ONNX export needs more
PEAK_8B = {"onnx": 6.4 + 0.1655 * 32, "gptq": 3.984 + 0.0564 * 32, "awq": 4.442 + 0.0011 * 32}  # docs/scale.md's fit


# ------------------------------------------------------------------------------------------- without a cluster

def _shape_8b() -> cost.Shape:
    return cost.model_shape({"hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
                             "intermediate_size": 14336, "num_hidden_layers": 32, "vocab_size": 128256})


def test_the_cost_model_at_the_8b_is_the_fit_of_bench_scale() -> None:
    shape = _shape_8b()
    for kind, gib in PEAK_8B.items():
        assert cost.need(kind, shape).memory_bytes / GIB == pytest.approx(gib, rel=1e-6)
    assert cost.need("gptq", shape).wall_s == pytest.approx(10.2 + 117.6 * 32, abs=0.1)
    tiny = cost.model_shape({"hidden_size": 256, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 1000})
    assert all(cost.need(k, tiny).memory_bytes >= cost.FLOOR_GIB * GIB for k in cost.STEPS)
    assert cost.need("onnx", tiny).memory_bytes < 0.7 * GIB  # a small model asks for little


def test_without_ray_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from kizami.run.on_ray import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(KizamiError, match=re.escape("pip install 'kizami[ray]'")):
        require_ray()
    code = "import sys, kizami, kizami.cli, kizami.run.pipeline, kizami.run.recipe; assert 'ray' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0  # importing kizami never loads ray


def test_the_run_table_round_trips_and_is_checked(tmp_path: Path) -> None:
    from kizami.run.recipe import RecipeError, load_run_recipe, to_toml

    path = tmp_path / "r.toml"
    path.write_text(RECIPE.format(out=tmp_path / "out") + 'executor = "ray"\naddress = "auto"\nmax_retries = 3\n')
    recipe = load_run_recipe(path)
    assert (recipe.run.executor, recipe.run.address, recipe.run.max_retries, recipe.run.cpus) == ("ray", "auto", 3, 1)
    (tmp_path / "again.toml").write_text(to_toml(recipe))
    assert load_run_recipe(tmp_path / "again.toml").run == recipe.run
    path.write_text(RECIPE.format(out=tmp_path / "out") + 'executor = "slurm"\n')
    with pytest.raises(RecipeError, match=r"\[run\]: executor 'slurm' is not one of serial, ray"):
        load_run_recipe(path)


# ------------------------------------------------------------------------------------------- the cluster

@dataclass
class Cluster:
    tmp: Path
    address: str
    env: dict[str, str]  # the nodes' environment (their own KIZAMI_HOME and TMPDIR)
    nodes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_node(self, *args: str, wrap: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        ray = str(Path(sys.executable).with_name("ray"))
        log = open(self.tmp / f"node-{len(self.nodes)}.log", "wb")  # noqa: SIM115  (kept open while the node runs)
        cmd = [*wrap, ray, "start", "--block", "--num-cpus", "1", "--memory", str(NODE_MEMORY),
               "--object-store-memory", "100000000", "--disable-usage-stats", *args]
        proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.nodes.append(proc)
        return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _wait_nodes(ray, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while sum(1 for node in ray.nodes() if node["Alive"]) < n:
        assert time.monotonic() < deadline, f"the cluster did not reach {n} nodes"
        time.sleep(0.5)


def _tree(procs: list[subprocess.Popen[bytes]]) -> list:
    import psutil

    found = []
    for proc in procs:
        try:
            root = psutil.Process(proc.pid)
            found += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return found


def _stop(cluster: Cluster) -> None:
    """Stop every node by the ids of the processes it started (`ray start --block`, its raylet, GCS and workers)."""
    import psutil

    procs = _tree(cluster.nodes)
    for node in cluster.nodes:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGTERM)  # `ray start --block` stops its node's processes on SIGTERM
    _, alive = psutil.wait_procs(procs, timeout=30)
    for p in alive:  # workers have their own process groups: what did not go, by id
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)
    for node in cluster.nodes:
        node.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    ray = require("ray")
    require("psutil")
    require("llama_cpp")
    require("onnxruntime_genai")
    from kizami.core.toolchain import cache_dir

    tmp = tmp_path_factory.mktemp("ray")
    home = tmp / "home-ray"  # the nodes' own kizami cache: the reference is computed on the cluster, not found
    home.mkdir()
    for tool in cache_dir().glob("llama.cpp-*"):
        (home / tool.name).symlink_to(tool)
    (tmp / "node-tmp").mkdir()
    (tmp / "shared").mkdir()
    env = {**os.environ, "RAY_TMPDIR": str(tmp / "raytmp"), "KIZAMI_HOME": str(home), "TMPDIR": str(tmp / "node-tmp")}
    port = _free_port()
    c = Cluster(tmp=tmp, address="", env=env)
    try:
        c.start_node("--head", "--port", str(port), "--temp-dir", str(tmp / "ray"), "--include-dashboard=false",
                     "--resources", '{"node_a": 1}')
        deadline = time.monotonic() + 120
        while True:  # the head's GCS takes the port when it is up
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert c.nodes[0].poll() is None, (tmp / "node-0.log").read_text()
            assert time.monotonic() < deadline, "the head did not start"
            time.sleep(0.5)
        c.address = f"{ray.util.get_node_ip_address()}:{port}"
        c.start_node("--address", c.address, "--resources", '{"node_b": 1}')
        ray.init(address=c.address, log_to_driver=False, logging_level="WARNING")
        _wait_nodes(ray, 2)
        yield c
    finally:
        ray.shutdown()
        _stop(c)
        left = subprocess.run(["pgrep", "-f", f"raylet.*{tmp}"], capture_output=True, text=True).stdout.split()
        assert not left, f"raylet processes left behind: {left}"


def _recipe(folder: Path, name: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(RECIPE.format(out=folder / name))
    return path


def _kizami(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kizami", *args], cwd=cwd, env={**env, "COLUMNS": "200"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _watch(proc: subprocess.Popen[str], until: Callable[[str], bool], timeout: float = 600) -> list[str]:
    """Read the run's output until ``until(all of it)`` holds; the reader goes on collecting afterwards."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    while not until("".join(lines)):
        assert proc.poll() is None, f"the run ended first:\n{''.join(lines)[-3000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return lines


def _staging(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob(".kizami-staging-*"))


def _worker_pid(output: str, label: str) -> int:
    hit = re.search(rf"{re.escape(label)}: started on .*?\(worker pid (\d+)", output)
    assert hit, output[-2000:]
    return int(hit.group(1))


@pytest.fixture(scope="module")
def runs(cluster: Cluster) -> dict[str, object]:
    """The recipe run serially (its own kizami cache) and on the cluster, where the worker making the GGUF build is
    killed (SIGKILL) once its staging folder exists: Ray runs the step again and the run finishes."""
    shared = cluster.tmp / "shared"
    serial_home = cluster.tmp / "home-serial"
    serial_home.mkdir()
    for tool in Path(cluster.env["KIZAMI_HOME"]).iterdir():
        (serial_home / tool.name).symlink_to(tool.resolve())
    proc = _kizami(["run", str(_recipe(shared, "serial"))], {**os.environ, "KIZAMI_HOME": str(serial_home)}, shared)
    out, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, out[-3000:]

    proc = _kizami(["run", str(_recipe(shared, "onray")), "--ray", cluster.address], dict(os.environ), shared)
    lines = _watch(proc, lambda text: "gguf: started on" in text and _staging(shared / "onray" / "builds" / "gguf"))
    killed = _worker_pid("".join(lines), "gguf")
    os.kill(killed, signal.SIGKILL)
    assert proc.wait(timeout=1200) == 0, "".join(lines)[-4000:]
    time.sleep(0.5)
    (cluster.tmp / "onray.log").write_text("".join(lines))  # the driver's console, for a reader of a failure
    return {"serial": json.loads((shared / "serial" / "results.json").read_text()),
            "ray": json.loads((shared / "onray" / "results.json").read_text()), "killed": killed,
            "output": "".join(lines), "out": shared / "onray", "serial_output": out}


def _metrics(result: dict) -> dict:
    """What must be equal: every metric section, less what is timed."""
    timed = {"seconds", "elapsed_s", "wall_s", "tok_s"}

    def strip(x: object) -> object:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if not any(t in k for t in timed)}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return {k: strip(result.get(k)) for k in ("quality", "fim", "size", "tokenizer_parity")}


def test_a_ray_run_gives_the_serial_runs_results(runs: dict) -> None:
    serial, onray = runs["serial"]["results"], runs["ray"]["results"]
    assert list(onray) == list(serial) == ["bf16", "onnx-int4-cpu", "gguf-f16", "gguf-q8_0"]
    assert not runs["ray"]["failures"]
    for name in serial:
        assert _metrics(onray[name]) == _metrics(serial[name]), name
        assert onray[name]["gates"] == serial[name]["gates"]
    kld = onray["gguf-q8_0"]["quality"]["kld"]["all"]["mean"]
    assert 0 < kld == serial["gguf-q8_0"]["quality"]["kld"]["all"]["mean"]
    assert onray["bf16"]["quality"]["kld"]["all"]["mean"] == pytest.approx(0, abs=1e-6)


def test_the_killed_build_was_run_again_and_nothing_half_made_was_used(runs: dict, cluster: Cluster) -> None:
    out, output = runs["out"], runs["output"]
    assert re.search(r"gguf: started on .*\(worker pid \d+, attempt 2\)", output), output[-3000:]
    sched = runs["ray"]["schedule"]
    assert next(t for t in sched["tasks"] if t["task"] == "build gguf")["attempts"] == 2
    for bundle in (out / "bundles").iterdir():
        assert manifest.verify(bundle) == [], bundle
    assert sorted(p.name for p in (out / "bundles").iterdir()) == ["gguf-f16", "gguf-q8_0", "onnx-int4-cpu"]
    assert not list(out.rglob(".kizami-staging-*"))  # the dead attempt's stage was removed by the next one
    import psutil

    assert not psutil.pid_exists(runs["killed"])
    dead = [p for p in (cluster.tmp / "node-tmp").glob("kizami-*") if p.name.split("-")[2] == str(runs["killed"])]
    assert not dead, dead  # nor is its scratch folder left


def test_the_schedule_says_where_each_step_ran_and_what_it_saved(runs: dict) -> None:
    sched = runs["ray"]["schedule"]
    assert sched["executor"] == "ray" and len(sched["nodes"]) == 2
    keys = {t["task"] for t in sched["tasks"]}
    assert keys == {"calibration", "build onnx-int4-cpu", "build gguf", "reference", "evaluate bf16",
                    "evaluate onnx-int4-cpu", "evaluate gguf-f16", "evaluate gguf-q8_0"}
    assert {t["node"] for t in sched["tasks"]} == set(sched["nodes"])  # both nodes worked
    assert set(sched["built_on"]) == {"onnx-int4-cpu", "gguf"} and set(sched["evaluated_on"]) == set(runs["ray"]["results"])
    total = sum(t["wall_s"] for t in sched["tasks"])
    assert sched["sum_of_steps_s"] == pytest.approx(total, abs=0.05)
    assert sched["saved_s"] == pytest.approx(total - sched["run_wall_s"], abs=0.05)
    assert sched["critical_path"][0] == "calibration" and sched["critical_path"][-1].startswith("evaluate ")
    starts = {t["task"]: t for t in sched["tasks"]}
    first_eval = min((t for t in sched["tasks"] if t["task"].startswith("evaluate ") and t["task"] != "evaluate bf16"),
                     key=lambda t: t["start_s"])
    assert runs["serial"]["schedule"]["executor"] == "serial"
    assert all(starts[n]["start_s"] + starts[n]["wall_s"] <= first_eval["start_s"] + 0.5 for n in first_eval["needs"])
    md = (runs["out"] / "report.md").read_text()
    assert "## Where each step ran" in md and "| build gguf |" in md
    assert re.search(r"gguf-q8_0: perplexity · KLD · top-1 \d+/\d+", runs["output"])  # task progress reached the driver
    assert "run ETA" in runs["output"]


def test_a_driver_started_again_reuses_what_is_complete(runs: dict, cluster: Cluster) -> None:
    """A driver run again on a finished `out` (as after a crash of the driver): every build verifies and is reused,
    every result is read back by its key, and the answers are the same."""
    out = runs["out"]
    made = {m: m.stat().st_mtime_ns for m in (out / "builds").rglob(manifest.MANIFEST_NAME)}
    assert made
    proc = _kizami(["run", str(out.parent / "onray.toml"), "--ray", cluster.address], dict(os.environ), out.parent)
    text, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, text[-3000:]
    assert {m: m.stat().st_mtime_ns for m in (out / "builds").rglob(manifest.MANIFEST_NAME)} == made
    assert "evaluating" not in text  # every result came from results/<build>.json
    again = json.loads((out / "results.json").read_text())["results"]
    assert {n: _metrics(r) for n, r in again.items()} == {n: _metrics(r) for n, r in runs["ray"]["results"].items()}



def test_a_failed_step_leaves_the_same_record_serially_and_on_ray(runs: dict, cluster: Cluster) -> None:
    """The GGUF step's folder taken by a file in both finished runs: the build fails, its evaluations do not run, the
    other builds are still measured, and both executors record the same failure and exit 4 (one plan, one policy)."""
    shared = cluster.tmp / "shared"
    records = {}
    for name, args, env in (("serial", [], {**os.environ, "KIZAMI_HOME": str(cluster.tmp / "home-serial")}),
                            ("onray", ["--ray", cluster.address], dict(os.environ))):
        folder = shared / name / "builds" / "gguf"
        aside = folder.with_name("gguf.aside")
        folder.rename(aside)
        folder.write_text("not a build folder")
        try:
            proc = _kizami(["run", str(shared / f"{name}.toml"), *args], env, shared)
            text, _ = proc.communicate(timeout=600)
            assert proc.returncode == 4, text[-3000:]
        finally:
            folder.unlink()
            aside.rename(folder)
        summary = json.loads((shared / name / "results.json").read_text())
        records[name] = ({k: v.replace(str(shared / name), "OUT") for k, v in summary["failures"].items()},
                         list(summary["results"]))
    assert records["onray"] == records["serial"]
    failures, measured = records["serial"]
    assert list(failures) == ["gguf"] and measured == ["bf16", "onnx-int4-cpu"], failures

def _task_processes(out: Path, cluster: Cluster) -> list[str]:
    """This run's tasks and engines still running: the cluster's workers busy with one of kizami's tasks (Ray titles
    them ``ray::kizami build gguf``), and any process whose command line names the run's folder."""
    import psutil

    busy = []
    for p in _tree(cluster.nodes):
        try:
            if " ".join(p.cmdline()).startswith("ray::kizami "):
                busy.append(f"{p.pid} {' '.join(p.cmdline())[:80]}")
        except psutil.Error:
            continue
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(out) in cmd and "pytest" not in cmd:
            busy.append(f"{p.pid} {cmd[:120]}")
    return busy


def test_ctrl_c_stops_this_runs_tasks_and_not_another_jobs(cluster: Cluster) -> None:
    import ray

    @ray.remote(num_cpus=0)
    def other_job() -> str:
        time.sleep(120)
        return "done"

    other = other_job.remote()
    shared = cluster.tmp / "shared"
    out = shared / "stopped"
    proc = _kizami(["run", str(_recipe(shared, "stopped")), "--ray", cluster.address], dict(os.environ), shared)
    lines = _watch(proc, lambda text: _staging(out / "builds") or _staging(out / "builds" / "gguf"))
    assert _task_processes(out, cluster)  # a task of the run is at work: what must stop
    os.kill(proc.pid, signal.SIGINT)  # Ctrl-C reaches the driver
    assert proc.wait(timeout=120) == 130, "".join(lines)[-3000:]
    deadline = time.monotonic() + 30
    while (busy := _task_processes(out, cluster)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not busy, busy
    text = " ".join("".join(lines).split())
    assert "interrupted while" in text and "nothing half-written was kept" in text
    assert not list(out.rglob(".kizami-staging-*"))
    ready, _ = ray.wait([other], timeout=0)
    assert not ready  # the other job's task still runs
    ray.cancel(other, force=True)


def test_a_step_that_fits_on_no_node_is_refused_before_any_work(cluster: Cluster) -> None:
    shared = cluster.tmp / "shared"
    big = shared / "big-model"  # the 8B's shape: only its config is read before the refusal
    big.mkdir()
    config = json.loads((Path(__file__).parent.parent / "kizami" / "standin" / "tiny-fcj" / "config.json").read_text())
    config |= {"hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
               "num_hidden_layers": 32, "vocab_size": 128256, "head_dim": 128}
    (big / "config.json").write_text(json.dumps(config))
    path = _recipe(shared, "big")
    path.write_text(path.read_text().replace('model = "tiny-fcj"', f'model = "{big}"'))
    proc = _kizami(["run", str(path), "--ray", cluster.address], dict(os.environ), shared)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out
    text = " ".join(out.split())
    need = PEAK_8B["onnx"]
    assert f"step 'build onnx-int4-cpu' needs {need:.1f} GiB of memory and 1 CPU" in text, text
    assert f"has {NODE_MEMORY / GIB:.1f} GiB, 1 CPU, 0 GPU" in text
    assert not (shared / "big" / "calib").exists() and not (shared / "big" / "builds").exists()


def test_a_node_that_cannot_see_out_is_named_and_nothing_is_built(cluster: Cluster) -> None:
    """A third node runs in its own mount namespace with an empty tmpfs over the shared folder: a real node that does
    not have the storage (as a machine without the NFS mount). Last in the module: the node is stopped after it."""
    import ray

    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -m is not permitted here (needs root or user namespaces)")
    shared = cluster.tmp / "shared"
    wrap = ("unshare", "-m", "sh", "-c", f'mount -t tmpfs tmpfs "{shared}" && exec "$0" "$@"')
    node = cluster.start_node("--address", cluster.address, "--resources", '{"node_c": 1}', wrap=wrap)
    try:
        _wait_nodes(ray, 3)
        proc = _kizami(["run", str(_recipe(shared, "hidden")), "--ray", cluster.address], dict(os.environ), shared)
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 1, out
        text = " ".join(out.split())
        assert re.search(r"node \S+ \(node \w+, node_c\) cannot see the run's out folder \S+/hidden "
                         r"\(No such file or directory\)", text), text[-2000:]
        assert not (shared / "hidden" / "calib").exists() and not (shared / "hidden" / "builds").exists()
        assert not list((shared / "hidden").glob(".kizami-ray-token-*"))
    finally:
        os.killpg(node.pid, signal.SIGTERM)
