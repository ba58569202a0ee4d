"""``kizami lm-eval BUILD --tasks ...``: lm-evaluation-harness tasks on any kizami build, through its own engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from kizami.cli.render import console, error_line
from kizami.core.errors import KizamiError

__all__ = ["lm_eval_command"]


def lm_eval_command(
    build: Annotated[Path, typer.Argument(help="A kizami build or bundle (any format), or an HF checkpoint folder.")],
    tasks: Annotated[str, typer.Option(help="Comma-separated lm-eval task names.")],
    include_path: Annotated[Optional[Path], typer.Option(help="A folder of your own task YAML files.")] = None,
    limit: Annotated[Optional[float], typer.Option(help="Documents per task (a fraction below 1).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for the engine.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda[:N].")] = "cpu",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write lm-eval's results here (JSON).")] = None,
) -> None:
    """Run lm-eval tasks on a build; lm-eval's own model name for it is `kizami` (kizami.runtime.lm_eval.KizamiLM)."""
    from kizami.runtime.lm_eval import run_tasks

    try:
        res = run_tasks(build, [t for t in tasks.split(",") if t], include_path=include_path, limit=limit,
                        threads=threads, device=device)
    except KizamiError as exc:
        error_line(str(exc))
        raise typer.Exit(1) from None
    if output is not None:
        output.write_text(json.dumps({k: res[k] for k in ("results", "versions", "n-shot") if k in res}, indent=2,
                                     default=str))
    for task, metrics in res["results"].items():
        console.print(f"[bold]{task}[/] " + "  ".join(f"{k}={v:.4g}" for k, v in metrics.items()
                                                       if isinstance(v, float)))
