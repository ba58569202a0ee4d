"""``kizami run --ray ADDRESS``: the run's steps as tasks on a Ray cluster.

The steps are the serial run's own functions (``kizami.run.pipeline``): the calibration set, one task per ``[[build]]``
step, the bf16 reference, one evaluation task per build; the gates, bundles, results.json and the reports are made
on the driver, as in the serial run. Each task is submitted with the object references of what it needs, so it
starts as soon as they are complete: the evaluation of an early build runs while later builds are still being made.

Before any work the driver checks that every task fits on some node (CPUs, GPUs and the memory
``kizami.run.cost`` predicts at the model's size) and that every alive node sees the run's ``out`` folder (each reads a
token the driver wrote there). Builds are staged and renamed into place with a manifest, and results are cached by
key, so a task that Ray re-runs after its worker or node died, or a driver started again after a crash, never uses a
half build and redoes only what is missing. Ctrl-C cancels this run's tasks (force: their workers, and the engines
they started, are killed), never another job's. Progress lines from every task reach the driver's console prefixed
with the build's name, with an ETA for the whole run; ``results.json`` gains a ``schedule`` section (which node made
and evaluated each build, every step's wall time, what running side by side saved).

Ray is imported only here and only when a run asks for it: ``import kizami`` never loads it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kizami.errors import KizamiError
from kizami.progress import LogLines, Progress, hms
from kizami.run import cost, pipeline
from kizami.run.recipe import BuildStep, RunRecipe
from kizami.runtime.result import EvalResult

__all__ = ["INSTALL", "Task", "require_ray", "run_on_ray", "plan_tasks", "check_fit", "check_storage"]

log = logging.getLogger(__name__)

INSTALL = "pip install 'kizami[ray]'"
GIB = 1 << 30
_STANDARD = {"CPU", "GPU", "memory", "object_store_memory"}
_STORAGE_WAIT_S = 180.0  # a node's first worker starts in seconds; a node that does not answer in this time is named


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise KizamiError(f"--ray (or [run] executor = \"ray\") needs Ray, which is not installed: {INSTALL}") from None
    return ray


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """One step of the run as Ray schedules it: what it asks for, and the cost model's estimate of its wall time."""

    key: str  # "calibration", "build gguf", "reference", "evaluate gguf-q8_0": the schedule's names
    label: str  # the prefix of its progress lines
    needs: tuple[str, ...]
    cpus: float
    gpus: float
    memory: int  # bytes
    wall_s: float

    def asks(self) -> str:
        return (f"{self.memory / GIB:.1f} GiB of memory and {self.cpus:g} CPU"
                + (f" and {self.gpus:g} GPU" if self.gpus else ""))


def _gpus(device: Any) -> float:
    return 1.0 if str(device or "cpu").startswith("cuda") else 0.0


def plan_tasks(recipe: RunRecipe, shape: cost.Shape) -> list[Task]:
    """Every task of the run, in submission order, with the resources it asks for."""
    from kizami.formats import get_format

    settings, opts = recipe.eval, recipe.run

    def cpus(threads: Any) -> float:
        return float(opts.cpus or threads or 1)

    def task(key: str, label: str, kind: str, needs: tuple[str, ...], threads: Any, device: Any) -> Task:
        n = cost.need(kind, shape)
        return Task(key=key, label=label, needs=needs, cpus=cpus(threads), gpus=_gpus(device), memory=n.memory_bytes,
                    wall_s=n.wall_s)

    tasks = [task("calibration", "calibration", "calib", (), None, None)]
    for step in recipe.builds:
        cfg = step.config
        tasks.append(task(f"build {step.name}", step.name, cost.build_kind(step.format), ("calibration",),
                          getattr(cfg, "threads", None), getattr(cfg, "device", None)))
    tasks.append(task("reference", "reference", "reference", ("calibration",), settings.threads, settings.device))
    tasks.append(task("evaluate bf16", "bf16", "eval-bf16", ("reference",), settings.threads, settings.device))
    for step in recipe.builds:
        kind = cost.eval_kind(get_format(step.format).backend)
        for name in step.builds:
            tasks.append(task(f"evaluate {name}", name, kind, (f"build {step.name}", "reference"), settings.threads,
                              settings.device))
    return tasks


def _node_name(node: dict[str, Any]) -> str:
    custom = sorted(k for k in node.get("Resources", {}) if k not in _STANDARD and not k.startswith("node:"))
    return (f"{node.get('NodeManagerAddress', '?')} (node {str(node.get('NodeID', '?'))[:8]}"
            + (f", {', '.join(custom)}" if custom else "") + ")")


def _fits(task: Task, node: dict[str, Any]) -> bool:
    res = node.get("Resources", {})
    return (res.get("CPU", 0.0) >= task.cpus and res.get("GPU", 0.0) >= task.gpus
            and res.get("memory", 0.0) >= task.memory)


def check_fit(tasks: list[Task], nodes: list[dict[str, Any]]) -> None:
    """Refuse, before any work, a task that fits on no node: naming it, what it asks for and the largest node."""
    if not nodes:
        raise KizamiError("the Ray cluster has no alive node")
    for task in tasks:
        if any(_fits(task, n) for n in nodes):
            continue
        big = max(nodes, key=lambda n: (n["Resources"].get("memory", 0.0), n["Resources"].get("GPU", 0.0),
                                       n["Resources"].get("CPU", 0.0)))
        res = big["Resources"]
        raise KizamiError(
            f"step {task.key!r} needs {task.asks()} (kizami.run.cost at this model's size, docs/scale.md) and no node "
            f"of the cluster has that: the largest, {_node_name(big)}, has {res.get('memory', 0.0) / GIB:.1f} GiB, "
            f"{res.get('CPU', 0.0):g} CPU, {res.get('GPU', 0.0):g} GPU. Add a larger node, or lower the step's "
            "`threads` / [run] cpus")


def _probe(path: str) -> str:
    """On one node: what the token file at ``path`` says there (``!`` and the reason when it cannot be read)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return f"!{exc.strerror or exc}"


def check_storage(ray: Any, out: Path, nodes: list[dict[str, Any]]) -> None:
    """Every alive node must see ``out``: the driver writes a token there and a task pinned to each node reads it."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    path = out / f".kizami-ray-token-{token[:12]}"
    path.write_text(token, encoding="utf-8")
    probe = ray.remote(_probe)
    try:
        refs = {probe.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            node["NodeID"], soft=False)).remote(str(path)): node for node in nodes}
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=_STORAGE_WAIT_S)
        for ref, node in refs.items():
            if ref not in ready:
                raise KizamiError(f"node {_node_name(node)} did not answer the storage check in {_STORAGE_WAIT_S:.0f} s; "
                                  "is kizami installed there, and is the node alive?")
            try:
                seen = ray.get(ref)
            except ray.exceptions.RayError as exc:
                raise KizamiError(f"node {_node_name(node)} could not run kizami's storage check "
                                  f"({str(exc).strip().splitlines()[-1][:200]}); install the same kizami on every node") from None
            if seen != token:
                why = seen[1:] if seen.startswith("!") else "another file is there"
                raise KizamiError(f"node {_node_name(node)} cannot see the run's out folder {out} ({why}); put `out` on "
                                  "storage every node mounts at the same path (NFS, a cluster file system, a mounted "
                                  "volume)")
    finally:
        path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------- the tasks (on nodes)

class _Lines:
    """An actor the tasks push their progress lines into; the driver drains it while it waits."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def push(self, kind: str, key: str, text: str) -> None:
        self.items.append((kind, key, text))

    def drain(self) -> list[tuple[str, str, str]]:
        items, self.items = self.items, []
        return items


def _here(lines: Any, key: str) -> dict[str, Any]:
    """Announce this attempt (node and worker pid: a retry shows as a second start) and note when it began."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    lines.push.remote("start", key, f"{node} {os.getpid()}")
    return {"node": node, "pid": os.getpid(), "start": time.time()}


def _done(where: dict[str, Any], **result: Any) -> dict[str, Any]:
    return {**where, "end": time.time(), **result}


def _say(lines: Any, key: str) -> Callable[[str], None]:
    return lambda text: lines.push.remote("line", key, text)


def _progress(lines: Any, key: str) -> Progress:
    """A task's progress as lines to the driver (each stage's time left on them; the driver adds the run's)."""
    return LogLines(lambda text: lines.push.remote("line", key, text))


def _skipped(*inputs: dict[str, Any]) -> str | None:
    for got in inputs:
        if got.get("error") is not None:
            return "not run: a step it needs failed"
    return None


def _calibration_task(p: pipeline.Plan, lines: Any) -> dict[str, Any]:
    where = _here(lines, "calibration")
    _say(lines, "calibration")("calibration set")
    try:
        return _done(where, value=str(pipeline.make_calibration(p)))
    except Exception as exc:
        return _done(where, error=pipeline.failure_text(exc))


def _build_task(p: pipeline.Plan, step: BuildStep, calib: dict[str, Any], lines: Any) -> dict[str, Any]:
    key = f"build {step.name}"
    where = _here(lines, key)
    if skip := _skipped(calib):
        return _done(where, error=skip)
    _say(lines, key)(f"building {step.name}")
    try:
        made = pipeline.make_build(p, step, Path(calib["value"]), _progress(lines, key))
    except KizamiError as exc:
        return _done(where, error=str(exc))
    return _done(where, value={name: str(path) for name, path in made.items()})


def _reference_task(p: pipeline.Plan, calib: dict[str, Any], lines: Any) -> dict[str, Any]:
    where = _here(lines, "reference")
    if skip := _skipped(calib):
        return _done(where, error=skip)
    _say(lines, "reference")("bf16 reference distributions")
    try:
        ref = pipeline.make_reference(p, Path(calib["value"]), _progress(lines, "reference"))
    except Exception as exc:
        return _done(where, error=pipeline.failure_text(exc))
    path = p.out / ".ray" / "reference.npz"  # on the shared storage: the evaluation tasks read it from any node
    path.parent.mkdir(parents=True, exist_ok=True)
    ref.save(path)
    return _done(where, value=str(path))


def _evaluate_task(p: pipeline.Plan, name: str, n_params: int, reference: dict[str, Any], build: dict[str, Any] | None,
                   lines: Any) -> dict[str, Any]:
    from kizami.runtime.metrics.reference import Reference

    key = f"evaluate {name}"
    where = _here(lines, key)
    if skip := _skipped(reference, *([build] if build is not None else [])):
        return _done(where, error=skip)
    path = Path(build["value"][name]) if build is not None else p.model
    try:
        result = pipeline.evaluate_build(p, name, path, Reference.load(Path(reference["value"])), n_params=n_params,
                                         progress=_progress(lines, key), status=_say(lines, key))
    except Exception as exc:  # a crash in one engine must not lose the other builds' results
        return _done(where, error=pipeline.failure_text(exc))
    return _done(where, value=result.to_dict())


# ------------------------------------------------------------------------------------------- the driver

def _absolute(recipe: RunRecipe) -> RunRecipe:
    """Paths a task reads, made absolute here: a task runs in another working folder, maybe on another machine."""
    settings, changes = recipe.eval, {}
    if settings.fim_file and not Path(settings.fim_file).is_absolute():
        changes["fim_file"] = str(Path(settings.fim_file).absolute())
    if settings.problems != "humaneval" and not Path(settings.problems).is_absolute():
        changes["problems"] = str(Path(settings.problems).absolute())
    return dataclasses.replace(recipe, base_dir=str(Path(recipe.base_dir).absolute()), out=str(pipeline.run_out(recipe)),
                               eval=dataclasses.replace(settings, **changes) if changes else settings)


def _join(ray: Any, address: str) -> None:
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, namespace=f"kizami-{uuid.uuid4().hex[:8]}")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise KizamiError(f"cannot join the Ray cluster at {address!r} ({str(exc).strip().splitlines()[0][:200]}); start one "
                          "with `ray start --head` or give --ray HOST:PORT of its head") from None


def run_on_ray(recipe: RunRecipe, *, address: str, status: pipeline.Status, fail_fast: bool = False) -> pipeline.RunSummary:
    """Run the recipe on the Ray cluster at ``address``; the caller holds the ``out`` folder's lock."""
    ray = require_ray()
    recipe = _absolute(recipe)
    p = pipeline.plan(recipe)
    _join(ray, address)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        tasks = plan_tasks(recipe, cost.for_model(p.model))
        check_fit(tasks, nodes)
        check_storage(ray, p.out, nodes)
        pipeline.check_steps(p)
        status(f"running {len(tasks)} steps on {len(nodes)} Ray node(s) at {address}")
        return _Driver(ray, p, tasks, nodes, status, fail_fast, address).run()
    finally:
        ray.shutdown()


class _Driver:
    """Submits the tasks with their dependencies, shows their lines as they come, and gathers what they return."""

    def __init__(self, ray: Any, p: pipeline.Plan, tasks: list[Task], nodes: list[dict[str, Any]],
                 status: pipeline.Status, fail_fast: bool, address: str) -> None:
        self.ray, self.p, self.status, self.fail_fast, self.address = ray, p, status, fail_fast, address
        self.tasks = {t.key: t for t in tasks}
        self.names = {n["NodeID"]: _node_name(n) for n in nodes}
        self.parallel = max(1, len(nodes))
        self.t0 = time.time()
        self.done: dict[str, dict[str, Any]] = {}
        self.running: dict[str, float] = {}  # task key → when its current attempt started (driver clock)
        self.attempts: dict[str, int] = {}
        self.remote: dict[Callable[..., Any], Any] = {}

    def _submit(self, fn: Callable[..., Any], key: str, *args: Any) -> Any:
        t = self.tasks[key]
        opts: dict[str, Any] = {"num_cpus": t.cpus, "memory": t.memory, "max_retries": self.p.recipe.run.max_retries,
                                "retry_exceptions": False, "name": f"kizami {key}"}
        if t.gpus:
            opts["num_gpus"] = t.gpus
        if fn not in self.remote:
            self.remote[fn] = self.ray.remote(fn)
        return self.remote[fn].options(**opts).remote(*args)

    def run(self) -> pipeline.RunSummary:
        from kizami.checkpoint import count_parameters

        ray, p, recipe = self.ray, self.p, self.p.recipe
        lines = ray.remote(num_cpus=0)(_Lines).remote()
        n_params = count_parameters(p.model)
        refs: dict[str, Any] = {}
        refs["calibration"] = self._submit(_calibration_task, "calibration", p, lines)
        for step in recipe.builds:
            refs[f"build {step.name}"] = self._submit(_build_task, f"build {step.name}", p, step, refs["calibration"], lines)
        refs["reference"] = self._submit(_reference_task, "reference", p, refs["calibration"], lines)
        refs["evaluate bf16"] = self._submit(_evaluate_task, "evaluate bf16", p, "bf16", n_params, refs["reference"], None, lines)
        for step in recipe.builds:
            for name in step.builds:
                refs[f"evaluate {name}"] = self._submit(_evaluate_task, f"evaluate {name}", p, name, n_params,
                                                        refs["reference"], refs[f"build {step.name}"], lines)
        pending = {ref: key for key, ref in refs.items()}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                self._show(ray.get(lines.drain.remote()))
                for ref in ready:
                    self._finished(pending.pop(ref), ref)
                if self.fail_fast and (bad := next((k for k, r in self.done.items() if r.get("error")), None)):
                    raise KizamiError(f"{bad}: {self.done[bad]['error']}")
            self._show(ray.get(lines.drain.remote()))
        except BaseException:  # Ctrl-C, SIGTERM (the CLI turns it into KeyboardInterrupt), fail_fast: stop this run's tasks
            for ref in pending:
                ray.cancel(ref, force=True)
            self._sweep(list(pending))
            raise
        finally:
            ray.kill(lines)
        return self._summary()

    def _sweep(self, cancelled: list[Any]) -> None:
        """Once the cancelled tasks are gone (their workers killed), remove the staging folders they left in ``out``:
        this run holds ``out``'s lock, so no one else stages there. Scratch folders on the nodes' own disks go with
        the next build on that node (``manifest.scratch``)."""
        import shutil

        if cancelled:
            self.ray.wait(cancelled, num_returns=len(cancelled), timeout=15)
        for stage in (self.p.out / "builds").rglob(".kizami-staging-*"):
            shutil.rmtree(stage, ignore_errors=True)

    def _show(self, items: list[tuple[str, str, str]]) -> None:
        for kind, key, text in items:
            if kind == "start":
                node, pid = text.split()
                self.attempts[key] = self.attempts.get(key, 0) + 1
                self.running[key] = time.time()
                again = f", attempt {self.attempts[key]}" if self.attempts[key] > 1 else ""
                self.status(f"{self.tasks[key].label}: started on {self.names.get(node, node[:8])} (worker pid {pid}{again})")
            else:
                label = self.tasks[key].label
                self.status(text if text.startswith(f"{label}: ") else f"{label}: {text}")

    def _finished(self, key: str, ref: Any) -> None:
        try:
            got = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # the worker or node died more often than max_retries allows
            got = {"error": f"lost on the cluster: {str(exc).strip().splitlines()[-1][:300]}", "node": "", "start": 0.0,
                   "end": 0.0}
        self.done[key] = got
        self.running.pop(key, None)
        node = self.names.get(got.get("node", ""), str(got.get("node", ""))[:8])
        wall = got["end"] - got["start"] if got.get("end") else 0.0
        what = f"failed: {got['error']}" if got.get("error") else f"done in {wall:.1f} s"
        self.status(f"{self.tasks[key].label}: {key.split()[0]} {what} on {node} · {len(self.done)}/{len(self.tasks)} steps"
                    f"{self._eta()}")

    def _eta(self) -> str:
        """The whole run's time left: each unfinished step's expected wall time (the mean of finished steps of its
        kind, else the cost model's), less what a running one has done, spread over the nodes."""
        seen: dict[str, list[float]] = {}
        for key, got in self.done.items():
            if got.get("end") and not got.get("error"):
                seen.setdefault(key.split()[0], []).append(got["end"] - got["start"])
        left = 0.0
        for key, task in self.tasks.items():
            if key in self.done:
                continue
            same = seen.get(key.split()[0])
            expect = sum(same) / len(same) if same else task.wall_s
            left += max(expect - (time.time() - self.running[key]), 0.0) if key in self.running else expect
        return f" · run ETA {hms(left / self.parallel)}" if left else ""

    def _summary(self) -> pipeline.RunSummary:
        p, done = self.p, self.done
        calib = done["calibration"]
        if calib.get("error"):
            raise KizamiError(f"calibration set: {calib['error']}")
        failures: dict[str, str] = {}
        builds: dict[str, Path] = {"bf16": p.model}
        for step in p.recipe.builds:
            got = done[f"build {step.name}"]
            if got.get("error"):
                failures[step.name] = got["error"]
            else:
                builds |= {name: Path(path) for name, path in got["value"].items()}
        if done["reference"].get("error"):
            raise KizamiError(f"bf16 reference: {done['reference']['error']}")
        results: dict[str, EvalResult] = {}
        for name in builds:
            got = done[f"evaluate {name}"]
            if got.get("error"):
                failures[name] = got["error"]
            else:
                results[name] = EvalResult.from_dict(got["value"])
        tasks = [{"task": key, "needs": list(self.tasks[key].needs), "node": self.names.get(got.get("node", ""), "?"),
                  "start_s": round(got["start"] - self.t0, 2), "wall_s": round(got["end"] - got["start"], 2),
                  "attempts": self.attempts.get(key, 1)}
                 for key, got in done.items() if got.get("end")]
        tasks.sort(key=lambda t: t["start_s"])
        schedule = pipeline.make_schedule("ray", tasks, time.time() - self.t0, nodes=sorted(set(self.names.values())),
                                          address=self.address)
        return pipeline.finish(p, Path(calib["value"]), builds, results, failures, self.status, schedule=schedule)
