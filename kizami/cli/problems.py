"""``kizami problems check FILE``: run every canonical solution of a problem set in the sandbox, before any model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from kizami.cli.render import console, error_line
from kizami.core import manifest
from kizami.core.errors import KizamiError

__all__ = ["problems_app"]

problems_app = typer.Typer(help="Check HumanEval-format problem sets (JHumanEval, MultiPL-E's Python split, your own).",
                           no_args_is_help=True)


@problems_app.callback()
def _group() -> None:
    """Check HumanEval-format problem sets (a group, so that `check` stays a sub-command)."""


@problems_app.command("check")
def check(file: str = typer.Argument(..., help="problems JSONL (.jsonl or .jsonl.gz), or `humaneval` for the built-in set"),
          output: Optional[Path] = typer.Option(None, "-o", "--output", help="write each task's outcome here (JSON)"),
          timeout: float = typer.Option(3.0, "--timeout", help="seconds per program"),
          workers: int = typer.Option(2, "--workers", min=1, help="programs run at once")) -> None:
    """Run every canonical solution; exit 0 only if all pass."""
    from kizami.calib_data.problems import load_problems
    from kizami.runtime.metrics.functional import check_problems
    from kizami.runtime.sandbox import SandboxConfig

    try:
        rows = check_problems(load_problems(file), sandbox=SandboxConfig(timeout_s=timeout), workers=workers)
        if output is not None:
            if not output.parent.is_dir():
                raise KizamiError(f"cannot write {output}: folder {output.parent} does not exist")
            manifest.write_atomic(output, json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    except KizamiError as exc:  # also when the group runs alone (tests, plugins), not only under kizami's main()
        error_line(str(exc))
        raise typer.Exit(1) from None
    _render(file, rows)
    raise typer.Exit(0 if all(r["outcome"] == "passed" for r in rows) else 1)


def _render(name: str, rows: list[dict[str, Any]]) -> None:
    counts = Counter(r["outcome"] for r in rows)
    table = Table(title=f"{name}: {len(rows)} problems, canonical solutions")
    table.add_column("outcome")
    table.add_column("tasks", justify="right")
    for outcome in ("passed", "failed", "timeout", "error"):
        table.add_row(outcome, str(counts.get(outcome, 0)))
    console.print(table)
    bad = [r for r in rows if r["outcome"] != "passed"]
    if bad:
        fails = Table(title="failing tasks")
        for col in ("task_id", "outcome", "detail"):
            fails.add_column(col)
        for r in bad:
            fails.add_row(r["task_id"], r["outcome"], r["detail"])
        console.print(fails)
