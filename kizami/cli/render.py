"""How the CLI shows things: rich tables, progress bars with an ETA, and the one-line error.

When the output is not a terminal (CI, ``nohup``, a pipe) tables are drawn wide instead of wrapped at 80 columns,
and progress bars are replaced by log lines, so a log reads like the screen would have.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from kizami.core.progress import LogLines
from kizami.core.progress import Progress as ProgressFn

if TYPE_CHECKING:
    from kizami.cli.doctor import Check
    from kizami.core.manifest import Manifest, Problem

__all__ = ["console", "err_console", "progress_bar", "error_line", "doctor_table", "calib_table",
           "problems_table", "layer_table", "gguf_table"]

_WIDE = 220  # columns of a log that is not a terminal: no table row wraps
console = Console(width=None if sys.stdout.isatty() else _WIDE)
err_console = Console(stderr=True, log_path=False, width=None if sys.stderr.isatty() else _WIDE)


def _bar(transient: bool = False) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=transient)


@contextmanager
def progress_bar(title: str = "", *, transient: bool = False) -> Iterator[ProgressFn]:
    """A ``progress(message, done, total)`` (kizami.core.progress) for long work: in a terminal one bar with its ETA, and
    a line for each stage as it ends (so finished stages stay on screen); elsewhere a log line per message
    (``counter`` stages report every twentieth). ``transient``: the bar goes when done (the command prints what
    it made)."""
    head = f"{escape(title)}: " if title else ""
    if not err_console.is_terminal:
        yield LogLines(lambda text: err_console.log(escape(text), highlight=False), f"{title}: " if title else "")
        return
    with _bar(transient) as bar:
        task = bar.add_task(head, total=None)
        last: list[tuple[str, int, int]] = []

        def update(message: str, done: int, total: int) -> None:
            if last and (total != last[0][2] or done < last[0][1]) and last[0][2] and not transient:
                msg, d, t = last[0]  # a new stage: the one before stays on screen
                err_console.log(f"{head}{escape(msg)} {d}/{t}", highlight=False)
                bar.reset(task)
            last[:] = [(message, done, total)]
            bar.update(task, description=f"{head}{escape(message)}", completed=done, total=total or None)

        yield update


def error_line(message: str) -> None:
    # one line whatever an engine's message looked like; escaped, or "[calib]" in a message would vanish as markup
    err_console.print(f"[red]error:[/] {escape(' '.join(message.split()))}", highlight=False, soft_wrap=True)


def doctor_table(checks: list[Check]) -> Table:
    table = Table(title="kizami doctor")
    for col in ("", "group", "item", "status"):
        table.add_column(col)
    for c in checks:
        table.add_row("[green]✓[/]" if c.ok else "[red]✗[/]", c.group, c.name, c.value)
    return table


def problems_table(path: Path, problems: list[Problem]) -> Table:
    table = Table(title=f"{path}: {len(problems)} problem(s)")
    for col in ("file", "problem", "detail"):
        table.add_column(col)
    for p in problems:
        table.add_row(p.file, p.issue, p.detail)
    return table


def calib_table(path: Path, m: Manifest) -> tuple[Table, str]:
    """A calibration set's mixture by source, and a footer line (licenses, sizes)."""
    table = Table(title=f"calibration set {m.calibration['id']}" if m.calibration else str(path))
    for col, justify in (("source", "left"), ("domain", "left"), ("language", "left"), ("docs", "right"),
                         ("held out", "right"), ("samples", "right"), ("tokens", "right"), ("share", "right"),
                         ("target", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, st in m.extra["sources"].items():
        table.add_row(name, st["domain"], st["language"], str(st["documents"]), str(st["heldout_documents"]),
                      str(st["samples"]), f"{st['tokens']:,}", f"{st['share_actual']:.1%}", f"{st['share_target']:.1%}")
    licenses = sorted({st["license"] for st in m.extra["sources"].values()})
    p = m.parameters
    footer = (f"licenses: {'; '.join(licenses)}\n{p['samples']} samples x {p['seq_len']} tokens · "
              f"{m.extra['fim_tasks']} FIM tasks · held-out docs "
              + ", ".join(f"{d} {n}" for d, n in m.extra["heldout_documents"].items()))
    return table, footer


def layer_table(method: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{method.upper()} per-layer error (gptqmodel's loss: weighted squared error per sample)")
    for col in ("layer", "module", "loss", "samples", "time s"):
        table.add_column(col, justify="right" if col != "module" else "left")
    for r in rows:
        table.add_row(r.get("layer", ""), r.get("module", ""), r.get("loss", ""), r.get("samples", ""), r.get("time", ""))
    return table


def gguf_table(out: Path, builds: dict[str, Path]) -> Group:
    from kizami.core import manifest

    table = Table(title=f"GGUF builds in {out}")
    for col in ("type", "folder", "file", "MiB", "bits/weight"):
        table.add_column(col)
    grids = []
    for gtype, folder in builds.items():
        params = manifest.load(folder).parameters
        for f in sorted(folder.glob("*.gguf")):
            bpw = f"{params['bpw']:.3f} (budget {params['budget_bpw']:g})" if "bpw" in params else ""
            table.add_row(gtype, folder.name, f.name, f"{f.stat().st_size / 2**20:.1f}", bpw)
        if params.get("tensor_types") and "budget_bpw" in params:
            grids.append(type_grid_table(f"{gtype}: tensor types chosen", params["tensor_types"]))
    return Group(table, *grids)


def type_grid_table(title: str, tensor_types: dict[str, str]) -> Table:
    """A mixed build's chosen type per layer and tensor, coloured from few bits (red) to many (green)."""
    from kizami.core.tensor_map import type_grid

    colours = {"q2_k": "red", "q3_k": "dark_orange", "iq4_xs": "yellow", "q4_0": "yellow", "q4_k": "yellow",
               "q5_0": "green_yellow", "q5_k": "green_yellow", "q6_k": "green", "q8_0": "bright_green", "f16": "cyan"}
    columns, rows = type_grid(tensor_types)
    table = Table(title=title)
    for col in ["", *columns]:
        table.add_column(col)
    for label, types in rows:
        table.add_row(label, *[f"[{colours.get(t, 'white')}]{t}[/]" if t else "" for t in types])
    return table
