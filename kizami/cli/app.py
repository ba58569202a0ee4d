"""The ``kizami`` command line: a table of commands. Each parses its options into a config, calls the library and
renders the result (``kizami.cli.render``); a ``KizamiError`` becomes one ``error:`` line and exit status 1."""

from __future__ import annotations

import difflib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.logging import RichHandler
from rich.markup import escape

from kizami import __version__
from kizami.cli.build import export_app, quantize_app
from kizami.cli.data import calib_app, standin_app, toolchain_app
from kizami.cli.lm_eval import lm_eval_command
from kizami.cli.problems import problems_app
from kizami.cli.render import console, err_console, error_line
from kizami.core.errors import KizamiError, UnknownName

app = typer.Typer(
    name="kizami",
    help="Quantize a merged code LLM into GPTQ, AWQ, GGUF and ONNX builds, and prove every build against the bf16 "
    "original: perplexity (code / ja / en), KL-divergence, FIM exact match and tokens per second.\n\n"
    "Start with `kizami doctor` to see what is installed, then `kizami run` for the built-in demo.",
    no_args_is_help=True, add_completion=False, rich_markup_mode="markdown", pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(calib_app, name="calib")
app.add_typer(quantize_app, name="quantize")
app.add_typer(export_app, name="export")
app.add_typer(toolchain_app, name="toolchain")
app.add_typer(standin_app, name="standin")
app.add_typer(problems_app, name="problems")
app.command("lm-eval")(lm_eval_command)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"kizami {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version_callback, is_eager=True,
                                                    help="Print the version and exit.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what kizami does (commands it runs, files it writes).")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False)])


@app.command()
def doctor() -> None:
    """Show engine versions, llama.cpp tools, CPU features, GPU, free disk, and how to fix what is missing."""
    from kizami.cli.doctor import run_checks
    from kizami.cli.render import doctor_table

    checks = run_checks()
    console.print(doctor_table(checks))
    for c in (c for c in checks if not c.ok and c.fix):
        console.print(f"[yellow]missing[/] {c.name}: [bold]{c.fix}[/]")
    if all(c.ok or not c.fix for c in checks):
        console.print("[green]everything kizami uses is in place[/]")


@app.command()
def verify(path: Annotated[Path, typer.Argument(help="A build or bundle folder (with kizami.json).")]) -> None:
    """Check every file of a build against its manifest (size and sha256). Exit 1 on any mismatch."""
    from kizami.cli.render import problems_table
    from kizami.core import manifest

    problems = manifest.verify(path)
    if problems:
        console.print(problems_table(path, problems))
        raise typer.Exit(1)
    m = manifest.load(path)
    console.print(f"[green]OK[/] {path}: {m.format} build, {len(m.files)} files match kizami.json")




def _e(name: str) -> Any:
    """An [eval] setting's default, read from EvalSettings (never a copy here)."""
    from kizami.builders import default_of
    from kizami.runtime.evaluate import EvalSettings

    return default_of(EvalSettings, name)


@app.command("eval")
def eval_cmd(
    build: Annotated[str, typer.Argument(help="A build folder, an HF checkpoint folder, or `tiny-fcj`.")],
    data: Annotated[Path, typer.Option(help="A calibration build whose held-out eval/ sets are used.")],
    ref: Annotated[Optional[str], typer.Option(help="The bf16 reference checkpoint (default: the build's source "
                                                    "checkpoint from its manifest).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Results JSON (default: BUILD.eval.json next to the build).")] = None,
    tasks: Annotated[str, typer.Option(help="Comma-separated metrics: ppl,kld (= quality),fim,speed,size,parity; also "
                                            "humaneval (pass@k, code run in a sandbox), humaneval-chat, humaneval-infill, "
                                            "longctx (loss by position, key retrieval) and any metric a plugin "
                                            "registers.")] = "ppl,kld,fim,speed,size,parity",
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="METRIC.KEY=VALUE", help="A metric's own setting, "
                                                      "as its [eval.METRIC] recipe table has it (repeatable), e.g. "
                                                      "--set humaneval.samples=10 --set longctx.lengths=1024,2048.")] = None,
    problems: Annotated[Optional[str], typer.Option(help="HumanEval-format problems: `humaneval` (built in) or a JSONL "
                                                         "file (`kizami problems check FILE` validates one).")] = None,
    problems_limit: Annotated[Optional[int], typer.Option(help="Only the first N problems (0: all).")] = None,
    longctx_lengths: Annotated[Optional[str], typer.Option(help="longctx: loss-by-position bucket edges, comma-separated "
                                                                "(capped by the model's positions).")] = None,
    kv_cache: Annotated[Optional[str], typer.Option(help="longctx: also measure with these llama.cpp KV caches, e.g. "
                                                         "q8_0,q4_0.")] = None,
    fim_sampled: Annotated[bool, typer.Option(help="FIM with the model card's sampling (T=0.2, top-p 0.95, seeded) "
                                                   "instead of greedy.")] = False,
    fim_file: Annotated[Optional[Path], typer.Option(help="A SantaCoder-FIM JSONL file instead of the set's eval/fim.jsonl.")] = None,
    ctx: Annotated[int, typer.Option(help="Perplexity window length in tokens.")] = _e("ctx"),
    stride: Annotated[int, typer.Option(help="Window advance; each token is scored once with >= ctx-stride context.")] = _e("stride"),
    max_tokens: Annotated[int, typer.Option(help="Score at most this many held-out tokens per domain (0: all).")] = _e("max_tokens_per_domain"),
    fim_limit: Annotated[int, typer.Option(help="Only the first N FIM tasks (0: all).")] = _e("fim_limit"),
    fim_dialect: Annotated[str, typer.Option(help="FIM prompt format: llama3-fim, codellama, starcoder, qwen-coder, "
                                                  "deepseek-coder, codestral (default: detected from the tokenizer).")] = "",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = _e("device"),
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (pinned for timing).")] = None,
    batch_size: Annotated[int, typer.Option(help="Sequences generated (and windows scored) at once; 0: as many as fit "
                                                 "in free memory, up to 16. Greedy results do not depend on it.")] = _e("batch_size"),
) -> None:
    """Measure a build against the bf16 reference: PPL per domain, KLD, top-1, FIM EM, tokens/s, size."""
    from kizami.cli.render import progress_bar
    from kizami.run.evaluation import evaluate_build
    from kizami.run.recipe import cli_value, eval_settings, parse_sets
    from kizami.run.report_text import result_details

    table: dict[str, Any] = {"metrics": list(_tasks(tasks)), "ctx": ctx, "stride": stride, "max_tokens_per_domain": max_tokens,
                             "fim_limit": fim_limit, "fim_dialect": fim_dialect, "device": device, "batch_size": batch_size,
                             **({"threads": threads} if threads is not None else {}),
                             **({"fim_file": str(fim_file)} if fim_file else {})}
    shortcuts = {"problems": problems, "problems_limit": problems_limit, "fim_sampled": fim_sampled or None,
                 "longctx_lengths": longctx_lengths and cli_value(longctx_lengths), "kv_cache_types": kv_cache and cli_value(kv_cache)}
    table |= {k: v for k, v in shortcuts.items() if v is not None} | parse_sets(set_ or [])
    settings = eval_settings(table, "kizami eval", Path.cwd(), quiet=True)
    with progress_bar() as progress:
        result, path = evaluate_build(build, data, settings, ref=ref, out=out, progress=progress)
    console.print(result_details(result))
    console.print(f"wrote {path}")


def _tasks(text: str) -> tuple[str, ...]:
    """``--tasks`` as metric names (aliases resolved); an unknown one fails with "did you mean"."""
    from kizami.runtime.metrics import task_names

    known = task_names()
    for task in (t.strip() for t in text.split(",") if t.strip() and t.strip() not in known):
        close = difflib.get_close_matches(task, list(known), n=1)
        raise UnknownName(f"unknown task {task!r}." + (f" Did you mean {close[0]!r}?" if close else "")
                          + f" Available: {', '.join(sorted(known))}")
    return tuple(dict.fromkeys(known[t.strip()] for t in text.split(",") if t.strip()))


@app.command()
def run(
    recipe: Annotated[Optional[Path], typer.Argument(help="A run recipe (.toml). Default: the built-in tiny-fcj demo.")] = None,
    fail_fast: Annotated[bool, typer.Option(help="Stop at the first failed build instead of reporting it.")] = False,
    ray: Annotated[Optional[str], typer.Option("--ray", metavar="ADDRESS", help="Run the steps as tasks on the Ray "
                                               "cluster at ADDRESS (`auto` or HOST:PORT); `out` must be on storage "
                                               "every node sees (docs/scale.md).")] = None,
) -> None:
    """Make every build of a recipe, evaluate each against bf16, check the gates, and write the report.

    Re-running resumes: finished steps whose outputs verify are reused, anything partial or changed is redone.
    Exit status: 0 all builds pass their gates, 3 a build failed a gate, 4 a build could not be made or measured.
    """
    from kizami.cli.render import progress_bar
    from kizami.run.pipeline import finished_steps, run_out
    from kizami.run.pipeline import run as run_pipeline
    from kizami.run.recipe import builtin_run_recipe, load_run_recipe

    spec = load_run_recipe(recipe or builtin_run_recipe())
    steps: list[str] = []

    def status(message: str) -> None:
        steps.append(message)
        err_console.log(escape(message), highlight=False)

    try:
        with progress_bar() as progress:
            summary = run_pipeline(spec, progress=progress, status=status, fail_fast=fail_fast, ray=ray)
    except KeyboardInterrupt:
        kept = ", ".join(finished_steps(run_out(spec))) or "nothing yet"
        err_console.print(f"[yellow]interrupted[/] while {escape(steps[-1]) if steps else 'starting'}; nothing "
                          f"half-written was kept. Complete: {escape(kept)}.\nResume with "
                          f"`{f'kizami run {recipe}' if recipe else 'kizami run'}`: complete steps that verify are reused.",
                          highlight=False)
        raise typer.Exit(130) from None
    _show_summary(summary, f"kizami run {spec.name}", Path(spec.out))


def _show_summary(summary: Any, title: str, out: Path) -> None:
    """The closing table; exit 3 when a build failed its gates, 4 when one could not be made or measured."""
    from kizami.run.report_text import eval_table

    console.print(eval_table(list(summary.results.values()), title=title))
    for name, msg in summary.failures.items():
        console.print(f"[red]failed[/] {name}: {escape(msg)}")
    console.print(f"report: {out / 'report.html'} · {out / 'report.md'} · results: {out / 'results.json'}")
    failing = [n for n, r in summary.results.items() if r.passed is False]
    if failing:
        err_console.print(f"[yellow]gates failed[/]: {', '.join(failing)} (see the report's Gate failures)")
    if summary.failures or failing:
        raise typer.Exit(4 if summary.failures else 3)


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="The `out` folder of a `kizami run` (holds results.json).")]) -> None:
    """Rewrite a run's comparison report (report.html, self-contained, and report.md) from its results.json."""
    from kizami.run.pipeline import load_summary, write_reports
    from kizami.run.report_text import eval_table

    summary = load_summary(run_dir)
    console.print(eval_table(list(summary.results.values()), title=f"kizami report {summary.recipe.get('name', '')}"))
    for path in write_reports(run_dir, summary):
        console.print(f"wrote {path}")


@app.command()
def init(path: Annotated[Path, typer.Argument(help="Where to write the example recipe.")] = Path("kizami.toml")) -> None:
    """Write a commented example run recipe to start from."""
    from kizami.run.recipe import builtin_run_recipe

    if path.exists():
        raise KizamiError(f"{path} already exists; choose another path")
    path.write_text(builtin_run_recipe().read_text(encoding="utf-8"), encoding="utf-8")
    console.print(f"wrote {path}; edit `model` and the [[build]] tables, then `kizami run {path}`")


@app.command()
def bundle(
    build: Annotated[Path, typer.Argument(help="A build folder (GGUF type folder, ONNX, GPTQ, AWQ) that verifies.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The bundle folder to write.")],
    base_model: Annotated[str, typer.Option(help="Upstream repo id for the model card's base_model.")] = "",
    license: Annotated[str, typer.Option(help="License id for the model card, e.g. llama3.1.")] = "",
    repo: Annotated[str, typer.Option(help="The Hub repo id you will upload to (used in the run examples).")] = "",
    results: Annotated[Optional[Path], typer.Option(help="A run's results.json or a `kizami eval` JSON: the card's "
                                                          "evaluation table.")] = None,
    tar: Annotated[bool, typer.Option("--tar", help="Also write OUT.tar.gz.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing bundle folder.")] = False,
) -> None:
    """Make a deployable bundle: the build's files, a model card (Hub metadata, evaluation vs bf16, how to run it),
    the source model's license files and a manifest with every file's sha256 (`kizami verify OUT` checks it)."""
    from kizami.run.bundle import BundleCard, find_result, make_bundle

    data = None
    if results is not None:
        try:
            data = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise KizamiError(f"--results {results}: cannot read it as JSON ({exc})") from None
    result, reference = find_result(data, build)
    path = make_bundle(build, out, card=BundleCard(base_model=base_model, license=license, repo=repo), result=result,
                       reference=reference, tarball=tar, overwrite=overwrite)
    console.print(f"[green]wrote[/] {path}" + (f" and {path}.tar.gz" if tar else ""))


@app.command()
def unpack(
    tarball: Annotated[Path, typer.Argument(help="A bundle .tar.gz (from `kizami bundle --tar` or anyone else).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to unpack the bundle into.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
) -> None:
    """Unpack a bundle tarball safely: links, absolute paths and `..` entries are refused before anything is written,
    and the files must match the bundle's manifest, or nothing is kept."""
    from kizami.run.bundle import unpack_bundle

    console.print(f"[green]OK[/] {unpack_bundle(tarball, out, overwrite=overwrite)}: every file matches its kizami.json")


def _terminate(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # a scheduler's SIGTERM cleans up like Ctrl-C: staging folders go, children are stopped


def main() -> None:
    # A stop request always stops cleanly: SIGTERM like Ctrl-C, and SIGINT even where the shell that started kizami
    # in the background set it to be ignored (as non-interactive shells do for `cmd &`).
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except KizamiError as exc:
        error_line(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: nothing half-written was kept; re-run the same command to resume")
        sys.exit(130)
