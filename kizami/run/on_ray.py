"""``kizami run --ray ADDRESS``: the run's plan (``kizami.run.plan``) as tasks on a Ray cluster.

Each step of the plan becomes one task, submitted with the object references of what it needs, so it starts as soon
as they are complete: the evaluation of an early build runs while later builds are still being made. What a step
does, how its failure spreads and how the outcomes become results.json, the gates, the bundles and the reports are
the plan's, as in the serial run; a task runs the step's own function and returns its outcome to the driver.

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
from pathlib import Path
from typing import Any

from kizami.core.errors import KizamiError
from kizami.core.progress import LogLines, hms
from kizami.run.plan import Failed, Gather, Job, Plan, Skipped, Status, Step, StepIO, attempt, check_steps, failed, inputs, make_plan, run_out
from kizami.run.recipe import RunRecipe
from kizami.run.summary import RunSummary

__all__ = ["INSTALL", "require_ray", "run_on_ray", "check_fit", "check_storage"]

log = logging.getLogger(__name__)

INSTALL = "pip install 'kizami[ray]'"
GIB = 1 << 30  # for the sizes the fit check names
_STANDARD = {"CPU", "GPU", "memory", "object_store_memory"}
_STORAGE_WAIT_S = 180.0  # a node's first worker starts in seconds; a node that does not answer in this time is named


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise KizamiError(f"--ray (or [run] executor = \"ray\") needs Ray, which is not installed: {INSTALL}") from None
    return ray


def _node_name(node: dict[str, Any]) -> str:
    custom = sorted(k for k in node.get("Resources", {}) if k not in _STANDARD and not k.startswith("node:"))
    return (f"{node.get('NodeManagerAddress', '?')} (node {str(node.get('NodeID', '?'))[:8]}"
            + (f", {', '.join(custom)}" if custom else "") + ")")


def _fits(task: Step, node: dict[str, Any]) -> bool:
    res = node.get("Resources", {})
    return (res.get("CPU", 0.0) >= task.cpus and res.get("GPU", 0.0) >= task.gpus
            and res.get("memory", 0.0) >= task.memory)


def check_fit(tasks: list[Step], nodes: list[dict[str, Any]]) -> None:
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


@dataclasses.dataclass(frozen=True, slots=True)
class _HandedOff:
    """A step's value that went through the shared ``out`` folder instead of Ray's object store (the bf16
    reference: every evaluation reads it, on any node); ``kind`` has ``save(path)`` and a ``load(path)`` classmethod."""

    kind: Any  # the value's class
    path: str


def _receive(value: Any) -> Any:
    return value.kind.load(Path(value.path)) if isinstance(value, _HandedOff) else value


def _task(job: Job, step: Step, lines: Any, *needs: dict[str, Any]) -> dict[str, Any]:
    """One step on a node (``needs``: what the tasks of the steps it needs returned, as Ray resolved them): its
    outcome, with the node, worker pid and times of this attempt. The step's own function and failure handling are
    the plan's."""
    import ray

    got = inputs(step, {key: need["outcome"] for key, need in zip(step.needs, needs, strict=True)})
    if isinstance(got, Skipped):
        return {"outcome": got}
    node = ray.get_runtime_context().get_node_id()
    lines.push.remote("start", step.key, f"{node} {os.getpid()}")  # each attempt announces itself: a retry shows
    where = {"node": node, "pid": os.getpid(), "start": time.time()}

    def say(text: str) -> None:
        lines.push.remote("line", step.key, text)

    outcome: Any
    try:
        got = {key: _receive(value) for key, value in got.items()}
    except Exception as exc:
        outcome = failed(exc)
    else:
        # the task's progress as lines to the driver (each stage's time left on them; the driver adds the run's)
        outcome = attempt(step, job, got, StepIO(progress=LogLines(say), say=say))
    if step.handoff and not isinstance(outcome, Failed):
        path = job.out / ".ray" / step.handoff  # on the shared storage: the tasks that need it read it from any node
        path.parent.mkdir(parents=True, exist_ok=True)
        outcome.save(path)
        outcome = _HandedOff(type(outcome), str(path))
    return {**where, "end": time.time(), "outcome": outcome}

# ------------------------------------------------------------------------------------------- the driver

def _absolute(recipe: RunRecipe) -> RunRecipe:
    """Paths a task reads, made absolute here: a task runs in another working folder, maybe on another machine."""
    settings, changes = recipe.eval, {}
    if settings.fim_file and not Path(settings.fim_file).is_absolute():
        changes["fim_file"] = str(Path(settings.fim_file).absolute())
    return dataclasses.replace(recipe, base_dir=str(Path(recipe.base_dir).absolute()), out=str(run_out(recipe)),
                               eval=dataclasses.replace(settings, **changes) if changes else settings)


def _join(ray: Any, address: str) -> None:
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, namespace=f"kizami-{uuid.uuid4().hex[:8]}")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise KizamiError(f"cannot join the Ray cluster at {address!r} ({str(exc).strip().splitlines()[0][:200]}); start one "
                          "with `ray start --head` or give --ray HOST:PORT of its head") from None


def run_on_ray(recipe: RunRecipe, *, address: str, status: Status, fail_fast: bool = False) -> RunSummary:
    """Run the recipe on the Ray cluster at ``address``; the caller holds the ``out`` folder's lock."""
    ray = require_ray()
    plan = make_plan(_absolute(recipe))
    _join(ray, address)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        check_fit(list(plan.steps), nodes)
        check_storage(ray, plan.job.out, nodes)
        check_steps(plan.job)
        status(f"running {len(plan.steps)} steps on {len(nodes)} Ray node(s) at {address}")
        return _Driver(ray, plan, nodes, status, fail_fast, address).run()
    finally:
        ray.shutdown()


class _Driver:
    """Submits the plan's steps as tasks with the object references of what they need, shows their lines as they
    come, and hands each outcome to the plan's ``Gather``."""

    def __init__(self, ray: Any, plan: Plan, nodes: list[dict[str, Any]], status: Status, fail_fast: bool,
                 address: str) -> None:
        self.ray, self.plan, self.status, self.address = ray, plan, status, address
        self.gather = Gather(plan, fail_fast=fail_fast)
        self.steps = {s.key: s for s in plan.steps}
        self.names = {n["NodeID"]: _node_name(n) for n in nodes}
        self.parallel = max(1, len(nodes))
        self.walls: dict[str, float] = {}  # task key → wall time of a step that finished well, for the ETA
        self.running: dict[str, float] = {}  # task key → when its current attempt started (driver clock)
        self.attempts: dict[str, int] = {}
        self.refs: dict[str, Any] = {}  # task key → its object reference
        self.remote = ray.remote(_task)

    def _submit(self, step: Step, *args: Any) -> Any:
        opts: dict[str, Any] = {"num_cpus": step.cpus, "memory": step.memory, "max_retries": self.plan.job.recipe.run.max_retries,
                                "retry_exceptions": False, "name": f"kizami {step.key}"}
        if step.gpus:
            opts["num_gpus"] = step.gpus
        return self.remote.options(**opts).remote(*args)

    def run(self) -> RunSummary:
        ray, plan = self.ray, self.plan
        lines = ray.remote(num_cpus=0)(_Lines).remote()
        refs = self.refs
        for step in plan.steps:  # each after what it needs: its references exist
            refs[step.key] = self._submit(step, plan.job, step, lines, *(refs[n] for n in step.needs))
        pending = {ref: key for key, ref in refs.items()}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                self._show(ray.get(lines.drain.remote()))
                for ref in ready:
                    self._finished(pending.pop(ref), ref)
            self._show(ray.get(lines.drain.remote()))
        except BaseException:  # Ctrl-C, SIGTERM (the CLI turns it into KeyboardInterrupt), a failure that stops the run
            for ref in pending:
                ray.cancel(ref, force=True)
            self._sweep(list(pending))
            raise
        finally:
            ray.kill(lines)
        return self.gather.summary(self.status, executor="ray", nodes=sorted(set(self.names.values())),
                                   address=self.address)

    def _sweep(self, cancelled: list[Any]) -> None:
        """Once the cancelled tasks are gone (their workers killed), remove the staging folders they left in ``out``:
        this run holds ``out``'s lock, so no one else stages there. Scratch folders on the nodes' own disks go with
        the next build on that node (``manifest.scratch``)."""
        import shutil

        if cancelled:
            self.ray.wait(cancelled, num_returns=len(cancelled), timeout=15)
        for stage in (self.plan.job.out / "builds").rglob(".kizami-staging-*"):
            shutil.rmtree(stage, ignore_errors=True)

    def _show(self, items: list[tuple[str, str, str]]) -> None:
        for kind, key, text in items:
            label = self.steps[key].label
            if kind == "start":
                node, pid = text.split()
                self.attempts[key] = self.attempts.get(key, 0) + 1
                self.running[key] = time.time()
                again = f", attempt {self.attempts[key]}" if self.attempts[key] > 1 else ""
                self.status(f"{label}: started on {self.names.get(node, node[:8])} (worker pid {pid}{again})")
            else:
                self.status(text if text.startswith(f"{label}: ") else f"{label}: {text}")

    def _finished(self, key: str, ref: Any) -> None:
        step = self.steps[key]
        try:
            got = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # the worker or node died more often than max_retries allows
            lost = next((need for need in step.needs if self._lost(need)), None)
            # a task whose need was lost never ran: as in the serial run, only the need leaves a record
            got = {"outcome": Skipped(lost) if lost else Failed(f"lost on the cluster: {str(exc).strip().splitlines()[-1][:300]}")}
        outcome = got["outcome"]
        self.running.pop(key, None)
        node = self.names.get(got.get("node", ""), str(got.get("node", ""))[:8])
        if "end" in got:
            self.gather.ran(key, node=self.names.get(got["node"], "?"), start=got["start"], end=got["end"],
                            attempts=self.attempts.get(key, 1))
        if isinstance(outcome, Skipped):
            what = f"not run: {outcome.need} failed"
        elif isinstance(outcome, Failed):
            what = f"failed: {outcome.text}" + (f" on {node}" if node else "")
        else:
            self.walls[key] = got["end"] - got["start"]
            what = f"done in {self.walls[key]:.1f} s on {node}"
        self.status(f"{step.label}: {step.kind} {what} · {len(self.gather.outcomes) + 1}/{len(self.steps)} steps"
                    f"{self._eta(key)}")
        self.gather.record(key, outcome)  # the plan's failure policy: may stop the run here

    def _lost(self, key: str) -> bool:
        """Whether the task of step ``key`` ended without an outcome (its worker or node died too often)."""
        try:
            self.ray.get(self.refs[key], timeout=0)
        except self.ray.exceptions.GetTimeoutError:
            return False
        except self.ray.exceptions.RayError:
            return True
        return False

    def _eta(self, finished: str) -> str:
        """The whole run's time left: each unfinished step's expected wall time (the mean of finished steps of its
        kind, else the cost model's), less what a running one has done, spread over the nodes."""
        seen: dict[str, list[float]] = {}
        for key, wall in self.walls.items():
            seen.setdefault(self.steps[key].kind, []).append(wall)
        left = 0.0
        for key, step in self.steps.items():
            if key in self.gather.outcomes or key == finished:
                continue
            same = seen.get(step.kind)
            expect = sum(same) / len(same) if same else step.wall_s
            left += max(expect - (time.time() - self.running[key]), 0.0) if key in self.running else expect
        return f" · run ETA {hms(left / self.parallel)}" if left else ""
