"""The ``kizami`` command line. Commands are thin: parse options, call the library, render with rich."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from kizami import __version__
from kizami.errors import KizamiError

console = Console()
err_console = Console(stderr=True, log_path=False)

app = typer.Typer(
    name="kizami",
    help="Quantize a merged code LLM into GPTQ, AWQ, GGUF and ONNX builds, and prove every build against the bf16 "
    "original: perplexity (code / ja / en), KL-divergence, FIM exact match and tokens per second.\n\n"
    "Start with `kizami doctor` to see what is installed.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
calib_app = typer.Typer(help="Build and inspect calibration sets (code + Japanese) and evaluation sets.", no_args_is_help=True)
toolchain_app = typer.Typer(help="The llama.cpp converter and tools kizami uses for GGUF.", no_args_is_help=True)
export_app = typer.Typer(help="Export a checkpoint to GGUF (llama.cpp) or ONNX (onnxruntime) builds.", no_args_is_help=True)
quantize_app = typer.Typer(help="Quantize a checkpoint to GPTQ or AWQ (gptqmodel), calibrated on code + Japanese.",
                           no_args_is_help=True)
standin_app = typer.Typer(help="The built-in stand-in model `tiny-fcj` (a small Llama 3.1-shaped model with FIM).",
                          no_args_is_help=True)
app.add_typer(calib_app, name="calib")
app.add_typer(toolchain_app, name="toolchain")
app.add_typer(quantize_app, name="quantize")
app.add_typer(export_app, name="export")
app.add_typer(standin_app, name="standin")


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
    from kizami.doctor import run_checks

    checks = run_checks()
    table = Table(title="kizami doctor", show_lines=False)
    for col in ("", "group", "item", "status"):
        table.add_column(col)
    for c in checks:
        table.add_row("[green]✓[/]" if c.ok else "[red]✗[/]", c.group, c.name, c.value)
    console.print(table)
    fixes = [c for c in checks if not c.ok and c.fix]
    for c in fixes:
        console.print(f"[yellow]missing[/] {c.name}: [bold]{c.fix}[/]")
    if not fixes:
        console.print("[green]everything kizami uses is in place[/]")


@app.command()
def verify(path: Annotated[Path, typer.Argument(help="A build folder (with kizami.json).")]) -> None:
    """Check every file of a build against its manifest (size and sha256). Exit 1 on any mismatch."""
    from kizami import manifest

    problems = manifest.verify(path)
    if not problems:
        m = manifest.load(path)
        console.print(f"[green]OK[/] {path}: {m.format} build, {len(m.files)} files match kizami.json")
        return
    table = Table(title=f"{path}: {len(problems)} problem(s)")
    for col in ("file", "problem", "detail"):
        table.add_column(col)
    for p in problems:
        table.add_row(p.file, p.issue, p.detail)
    console.print(table)
    raise typer.Exit(1)


@toolchain_app.command("build")
def toolchain_build(
    force: Annotated[bool, typer.Option(help="Rebuild even if every tool is present.")] = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parallel compile jobs (default: all cores).")] = None,
) -> None:
    """Fetch the pinned llama.cpp source and build llama-quantize, llama-imatrix, llama-perplexity, llama-bench."""
    from kizami import toolchain

    with console.status("building llama.cpp tools (≈5 min on 2 cores)…"):
        chain = toolchain.build(jobs=jobs, force=force)
    console.print(f"[green]ready[/] converter {chain.converter}\n      tools in {chain.bin_dir}")


@toolchain_app.command("source")
def toolchain_source() -> None:
    """Print the path of the pinned llama-cpp-python source archive (downloading it once)."""
    from kizami import toolchain

    print(toolchain.source_archive())


@toolchain_app.command("show")
def toolchain_show() -> None:
    """Print where the converter and tools are, and which are missing."""
    from kizami import toolchain

    chain = toolchain.find()
    console.print(f"source: {chain.root}\ntools:  {chain.bin_dir}")
    missing = chain.missing()
    console.print(f"[red]missing:[/] {', '.join(missing)} — run `kizami toolchain build`" if missing else "[green]complete[/]")


@contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """A rich progress display; yields a factory ``(description, total) -> advance(n)``."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=False) as bar:
        def factory(description: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(description, total=total)
            return lambda n: bar.advance(task, n)

        yield factory


@calib_app.command("build")
def calib_build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the calibration build.")],
    recipe: Annotated[str, typer.Option(help="`default` (built-in code + Japanese mixture) or a recipe .toml.")] = "default",
    tokenizer: Annotated[str, typer.Option(help="Tokenizer to pack with: a model folder, or `tiny-fcj`.")] = "tiny-fcj",
    samples: Annotated[int, typer.Option(help="Number of calibration samples.")] = 128,
    seq_len: Annotated[int, typer.Option(help="Tokens per sample (BOS included).")] = 512,
    fim_per_language: Annotated[int, typer.Option(help="Single-line FIM tasks per language from held-out code.")] = 20,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
) -> None:
    """Build a calibration set (N samples x L tokens) and its held-out evaluation sets (perplexity texts, FIM tasks)."""
    from kizami.calib_data.build import CalibConfig, build_calib
    from kizami.calib_data.recipe import load_recipe
    from kizami.standin import resolve_model

    cfg = CalibConfig(samples=samples, seq_len=seq_len, fim_per_language=fim_per_language)
    with console.status("building calibration set…") as status:
        build_calib(load_recipe(recipe), resolve_model(tokenizer), out, cfg, overwrite=overwrite,
                    progress=lambda msg: status.update(f"calibration set: {msg}…"))
    _show_calib(out)


def _show_calib(path: Path) -> None:
    from kizami import manifest

    m = manifest.load(path)
    if m.format != "calib":
        raise KizamiError(f"{path} is a {m.format} build, not a calibration set")
    table = Table(title=f"calibration set {m.calibration['id']}" if m.calibration else str(path))
    for col, justify in (("source", "left"), ("domain", "left"), ("language", "left"), ("docs", "right"),
                         ("held out", "right"), ("samples", "right"), ("tokens", "right"), ("share", "right"),
                         ("target", "right")):
        table.add_column(col, justify=justify)
    for name, st in m.extra["sources"].items():
        table.add_row(name, st["domain"], st["language"], str(st["documents"]), str(st["heldout_documents"]),
                      str(st["samples"]), f"{st['tokens']:,}", f"{st['share_actual']:.1%}", f"{st['share_target']:.1%}")
    console.print(table)
    licenses = sorted({st["license"] for st in m.extra["sources"].values()})
    console.print("licenses: " + "; ".join(licenses))
    p = m.parameters
    console.print(f"{p['samples']} samples x {p['seq_len']} tokens · {m.extra['fim_tasks']} FIM tasks · held-out docs "
                  + ", ".join(f"{d} {n}" for d, n in m.extra["heldout_documents"].items()))


@calib_app.command("show")
def calib_show(path: Annotated[Path, typer.Argument(help="A calibration build folder.")]) -> None:
    """Show a calibration set's mixture by source, language and tokens."""
    _show_calib(path)


_TASKS = {"ppl": "quality", "kld": "quality", "fim": "fim", "speed": "speed", "size": "size", "parity": "parity"}


@app.command("eval")
def eval_cmd(
    build: Annotated[str, typer.Argument(help="A build folder, an HF checkpoint folder, or `tiny-fcj`.")],
    data: Annotated[Path, typer.Option(help="A calibration build whose held-out eval/ sets are used.")],
    ref: Annotated[Optional[str], typer.Option(help="The bf16 reference checkpoint (default: the build's source "
                                                    "checkpoint from its manifest).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Results JSON (default: BUILD.eval.json next to the build).")] = None,
    tasks: Annotated[str, typer.Option(help="Comma-separated: ppl,kld,fim,speed,size,parity.")] = "ppl,kld,fim,speed,size,parity",
    fim_file: Annotated[Optional[Path], typer.Option(help="A SantaCoder-FIM JSONL file instead of the set's eval/fim.jsonl.")] = None,
    ctx: Annotated[int, typer.Option(help="Perplexity window length in tokens.")] = 512,
    stride: Annotated[int, typer.Option(help="Window advance; each token is scored once with >= ctx-stride context.")] = 256,
    fim_sampled: Annotated[bool, typer.Option(help="Model-card sampling (T=0.2, top-p 0.95, seeded) instead of greedy.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (pinned for timing).")] = None,
) -> None:
    """Measure a build against the bf16 reference: PPL per domain, KLD, top-1, FIM EM, tokens/s, size."""
    from kizami import manifest
    from kizami.report_text import result_details
    from kizami.runtime import check_build
    from kizami.runtime.evaluate import EvalSettings, evaluate, reference_for
    from kizami.runtime.metrics.fim import FimSettings
    from kizami.runtime.metrics.size import count_parameters
    from kizami.standin import resolve_model

    unknown = [t for t in tasks.split(",") if t.strip() and t.strip() not in _TASKS]
    if unknown:
        raise KizamiError(f"unknown task(s) {unknown}; choose from {', '.join(_TASKS)}")
    metrics = tuple(dict.fromkeys(_TASKS[t.strip()] for t in tasks.split(",") if t.strip()))
    settings = EvalSettings(ctx=ctx, stride=stride, metrics=metrics, fim=FimSettings(sampled=fim_sampled),
                            device=device, threads=threads, fim_file=str(fim_file) if fim_file else "")
    build_path = resolve_model(build)
    check_build(build_path)  # a damaged build fails now, not after the reference is computed
    if ref is None:
        source = manifest.load(build_path).source if (build_path / manifest.MANIFEST_NAME).is_file() else None
        if not source or "path" not in source:
            raise KizamiError(f"{build_path} names no source checkpoint; pass --ref with the bf16 model")
        ref = source["path"]
    ref_path = resolve_model(ref)
    # next to the build, except for the shipped stand-in (never write into the installed package)
    out = out or (Path(f"{build_path.name}.eval.json") if build == "tiny-fcj" else build_path.with_name(build_path.name + ".eval.json"))
    journal = out.with_name(f".{out.name}.journal")  # FIM completions as they are made: an interrupted eval resumes
    with _progress() as progress:
        reference = reference_for(ref_path, data, settings, progress)
        result = evaluate(build_path, reference, settings, n_params=count_parameters(ref_path), progress=progress,
                          journal_dir=journal)
    console.print(result_details(result))
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_atomic(out, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    with contextlib.suppress(OSError):
        journal.rmdir()
    console.print(f"wrote {out}")


@app.command()
def run(
    recipe: Annotated[Optional[Path], typer.Argument(help="A run recipe (.toml). Default: the built-in tiny-fcj demo.")] = None,
    fail_fast: Annotated[bool, typer.Option(help="Stop at the first failed build instead of reporting it.")] = False,
) -> None:
    """Make every build of a recipe, evaluate each against bf16, check the gates, and write the report.

    Re-running resumes: finished steps whose outputs verify are reused, anything partial or changed is redone.
    Exit status: 0 all builds pass their gates, 3 a build failed a gate, 4 a build could not be made or measured.
    """
    from kizami.pipeline import builtin_run_recipe, finished_steps, load_run_recipe, run_out
    from kizami.pipeline import run as run_pipeline
    from kizami.report_text import eval_table

    spec = load_run_recipe(recipe or builtin_run_recipe())
    steps: list[str] = []

    def status(message: str) -> None:
        steps.append(message)
        err_console.log(message)

    try:
        with _progress() as progress:
            summary = run_pipeline(spec, progress=progress, status=status, fail_fast=fail_fast)
    except KeyboardInterrupt:
        kept = finished_steps(run_out(spec))
        err_console.print(f"[yellow]interrupted[/] while {escape(steps[-1]) if steps else 'starting'}; nothing "
                          f"half-written was kept. Complete: {escape(', '.join(kept)) or 'nothing yet'}.\n"
                          f"Resume with `{f'kizami run {recipe}' if recipe else 'kizami run'}`: complete steps that verify are "
                          "reused.",
                          highlight=False)
        raise typer.Exit(130) from None
    console.print(eval_table([{**r, "build": n} for n, r in summary["results"].items()], title=f"kizami run {spec.name}"))
    for name, msg in summary["failures"].items():
        console.print(f"[red]failed[/] {name}: {escape(msg)}")
    out = Path(spec.out)
    console.print(f"report: {out / 'report.html'} · {out / 'report.md'} · results: {out / 'results.json'}")
    _exit_for(summary)


def _exit_for(summary: dict[str, Any]) -> None:
    """Exit 3 when a build failed its gates, 4 when a build could not be made or measured (both: 4)."""
    failing = [n for n, r in summary["results"].items() if r.get("gates") and not r["gates"]["pass"]]
    if failing:
        err_console.print(f"[yellow]gates failed[/]: {', '.join(failing)} (see the report's Gate failures)")
    if summary.get("failures"):
        raise typer.Exit(4)
    if failing:
        raise typer.Exit(3)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="The `out` folder of a `kizami run` (holds results.json).")],
) -> None:
    """Rewrite a run's comparison report (report.html, self-contained, and report.md) from its results.json."""
    from kizami.pipeline import load_summary, write_reports
    from kizami.report_text import eval_table

    summary = load_summary(run_dir)
    console.print(eval_table([{**r, "build": n} for n, r in summary["results"].items()],
                             title=f"kizami report {summary['recipe'].get('name', '')}"))
    for path in write_reports(run_dir, summary):
        console.print(f"wrote {path}")


@app.command()
def init(path: Annotated[Path, typer.Argument(help="Where to write the example recipe.")] = Path("kizami.toml")) -> None:
    """Write a commented example run recipe to start from."""
    from kizami.pipeline import builtin_run_recipe

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
    from kizami.bundle import make_bundle

    data = None
    if results is not None:
        try:
            data = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise KizamiError(f"--results {results}: cannot read it as JSON ({exc})") from None
    path = make_bundle(build, out, base_model=base_model, license=license, repo=repo, results=data, tarball=tar,
                       overwrite=overwrite)
    console.print(f"[green]wrote[/] {path}" + (f" and {path}.tar.gz" if tar else ""))


@app.command()
def unpack(
    tarball: Annotated[Path, typer.Argument(help="A bundle .tar.gz (from `kizami bundle --tar` or anyone else).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to unpack the bundle into.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
) -> None:
    """Unpack a bundle tarball safely: links, absolute paths and `..` entries are refused before anything is written,
    and the files must match the bundle's manifest, or nothing is kept."""
    from kizami.bundle import unpack_bundle

    path = unpack_bundle(tarball, out, overwrite=overwrite)
    console.print(f"[green]OK[/] {path}: every file matches its kizami.json")


@export_app.command("gguf")
def export_gguf_cmd(
    model: Annotated[str, typer.Argument(help="HF checkpoint folder (safetensors), or `tiny-fcj`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: one build folder per type inside.")],
    types: Annotated[str, typer.Option(help="Comma-separated: q8_0,q6_k,q5_k_m,q4_k_m,q4_0,iq4_xs,q3_k_m,q2_k.")] = "q8_0,q4_k_m",
    base: Annotated[str, typer.Option(help="Unquantized base GGUF: f16, bf16 or f32.")] = "f16",
    imatrix: Annotated[str, typer.Option(help="`calib` (learn from the calibration set), `none`, or an imatrix .gguf.")] = "calib",
    calib: Annotated[Optional[Path], typer.Option(help="Calibration build for --imatrix calib (default: build the "
                                                        "built-in code + Japanese set into OUT/calib).")] = None,
    imatrix_chunks: Annotated[int, typer.Option(help="Chunks of --imatrix-ctx tokens the imatrix reads.")] = 64,
    imatrix_ctx: Annotated[int, typer.Option(help="Context per imatrix chunk.")] = 512,
    pre_tokenizer: Annotated[str, typer.Option(help="`auto` (detect Llama 3's regex), `converter` (the converter's own "
                                                    "hash check), or a llama.cpp pre-tokenizer name, e.g. llama-bpe.")] = "auto",
    name: Annotated[str, typer.Option(help="general.name and file base name (default: the folder name).")] = "",
    license: Annotated[str, typer.Option(help="general.license, e.g. llama3.1.")] = "",
    base_model: Annotated[str, typer.Option(help="Upstream repo id for general.base_model.*.")] = "",
    split_max_size: Annotated[str, typer.Option(help="Shard files larger than this, e.g. 2G.")] = "",
    threads: Annotated[Optional[int], typer.Option(help="Threads for imatrix and quantization.")] = None,
) -> None:
    """Convert to GGUF with llama.cpp's converter, learn an importance matrix, and quantize to each type."""
    from kizami.checkpoint import check_hf_dir
    from kizami.export.gguf import GGUFConfig, export_gguf
    from kizami.standin import resolve_model

    cfg = GGUFConfig(types=tuple(t.strip().lower() for t in types.split(",") if t.strip()), base=base, imatrix=imatrix,
                     imatrix_chunks=imatrix_chunks, imatrix_ctx=imatrix_ctx, pre_tokenizer=pre_tokenizer, name=name,
                     license=license, base_model=base_model, split_max_size=split_max_size, threads=threads)
    model_path = check_hf_dir(resolve_model(model))
    with console.status("GGUF export…") as status:
        if imatrix == "calib" and calib is None:
            calib = _default_calib(model_path, out / "calib", status)
        builds = export_gguf(model_path, out, cfg, calib=calib, progress=lambda m: status.update(f"GGUF: {m}…"))
    table = Table(title=f"GGUF builds in {out}")
    for col in ("type", "folder", "file", "MiB"):
        table.add_column(col)
    for gtype, folder in builds.items():
        for f in sorted(folder.glob("*.gguf")):
            table.add_row(gtype, folder.name, f.name, f"{f.stat().st_size / 2**20:.1f}")
    console.print(table)


@export_app.command("onnx")
def export_onnx_cmd(
    model: Annotated[str, typer.Argument(help="HF checkpoint folder (safetensors), or `tiny-fcj`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output build folder.")],
    precision: Annotated[str, typer.Option(help="fp32, int8 or int4 (CPU); fp16 or int4 (CUDA).")] = "int4",
    target: Annotated[str, typer.Option(help="cpu or cuda (a CUDA build still runs on the CPU provider).")] = "cpu",
    accuracy_level: Annotated[Optional[int], typer.Option(help="MatMulNBits accuracy level (default 4 on CPU).")] = None,
    block_size: Annotated[int, typer.Option(help="Block size of int4/int8 weight quantization.")] = 32,
    from_build: Annotated[Optional[Path], typer.Option(help="Build from a GPTQ/AWQ folder instead (calibrated int4).")] = None,
) -> None:
    """Export to ONNX with onnxruntime-genai's model builder (KV cache, genai_config.json, tokenizer)."""
    from kizami.checkpoint import check_hf_dir
    from kizami.export.onnx import ONNXConfig, export_onnx
    from kizami.standin import resolve_model

    cfg = ONNXConfig(precision=precision, target=target, accuracy_level=accuracy_level, int4_block_size=block_size,
                     from_build=str(from_build) if from_build else "")
    with console.status(f"ONNX {precision} for {target}…"):
        build = export_onnx(check_hf_dir(resolve_model(model)), out, cfg)
    size = sum(p.stat().st_size for p in build.rglob("*") if p.is_file())
    console.print(f"[green]wrote[/] {build} ({size / 2**20:.1f} MiB, accuracy_level {cfg.accuracy_level})")


def _default_calib(model: Path, out: Path, status: Any, recipe: str = "default", **sizes: int) -> Path:
    """A calibration set from ``recipe`` packed with ``model``'s tokenizer, reused when it is already built."""
    from kizami.calib_data.build import CalibConfig, build_calib, is_current
    from kizami.calib_data.recipe import load_recipe

    mixture, cfg = load_recipe(recipe), CalibConfig(**sizes)
    if is_current(out, mixture, model, cfg):
        return out
    status.update(f"building the {Path(recipe).stem} calibration set…")
    return build_calib(mixture, model, out, cfg, overwrite=True)


def _resolve_calib(spec: str, model: Path, near: Path, status: Any, samples: int, seq_len: int) -> Path:
    """--calib: `default` (the built-in mixture), a calibration build folder, or a mixture recipe .toml."""
    path = Path(spec)
    if spec != "default" and path.is_dir():
        return path
    if spec != "default" and path.suffix != ".toml":
        raise KizamiError(f"--calib {spec}: not `default`, a calibration build folder or a recipe .toml")
    name = "default" if spec == "default" else path.stem
    return _default_calib(model, near / f"calib-{name}-{samples}x{seq_len}", status, spec, samples=samples,
                          seq_len=seq_len)


# Options GPTQ and AWQ share, declared once.
_Model = Annotated[str, typer.Argument(help="HF checkpoint folder (safetensors), or `tiny-fcj`.")]
_QuantOut = Annotated[Path, typer.Option("--out", "-o", help="Output build folder.")]
_Bits = Annotated[int, typer.Option(help="Bits per weight: 4 or 8.")]
_GroupSize = Annotated[int, typer.Option(help="Weights per scale: 32, 64, 128 (GPTQ also 256), or -1 for one scale "
                                              "per output channel.")]
_Calib = Annotated[str, typer.Option(help="`default` (built-in code + Japanese mixture), a calibration build folder, "
                                          "or a mixture recipe .toml.")]
_Samples = Annotated[int, typer.Option(help="Calibration samples.")]
_SeqLen = Annotated[int, typer.Option(help="Tokens per calibration sample.")]
_Skip = Annotated[Optional[list[str]], typer.Option(help="Regex of linear layers to keep unquantized (repeatable), e.g. "
                                                        "'model.layers.0.mlp.down_proj'. lm_head and the embeddings "
                                                        "are never quantized.")]
_BatchSize = Annotated[int, typer.Option(help="Calibration rows per forward pass.")]
_Device = Annotated[str, typer.Option(help="cpu, or cuda / cuda:N.")]
_Threads = Annotated[Optional[int], typer.Option(help="CPU threads (default: all cores).")]
_Force = Annotated[bool, typer.Option(help="Replace an existing output made from other inputs.")]


def _quantize(method: str, model: str, out: Path, cfg: Any, calib: str, force: bool, threads: Optional[int]) -> None:
    import time

    from kizami.checkpoint import check_hf_dir
    from kizami.quantize.common import layer_errors
    from kizami.standin import resolve_model

    model_path = check_hf_dir(resolve_model(model))
    fn = _load_quantizer(method)
    start = time.monotonic()
    with console.status(f"{method.upper()}…") as status:
        calib_dir = _resolve_calib(calib, model_path, out.parent, status, cfg.samples, cfg.seq_len)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console) as bar:
        task = bar.add_task(f"{method.upper()} {cfg.bits}-bit g{cfg.group_size}", total=None)

        def progress(message: str, done: int, total: int) -> None:
            bar.update(task, description=f"{method.upper()}: {message}", completed=done, total=total)

        build = fn(model_path, out, cfg, calib=calib_dir, force=force, threads=threads, progress=progress)
    rows = layer_errors(build)
    if rows:
        table = Table(title=f"{method.upper()} per-layer error (gptqmodel's loss: weighted squared error per sample)")
        for col in ("layer", "module", "loss", "samples", "time s"):
            table.add_column(col, justify="right" if col != "module" else "left")
        for r in rows:
            table.add_row(r.get("layer", ""), r.get("module", ""), r.get("loss", ""), r.get("samples", ""), r.get("time", ""))
        console.print(table)
    size = sum(p.stat().st_size for p in build.glob("*.safetensors"))
    console.print(f"[green]wrote[/] {build} ({size / 2**20:.1f} MiB of weights, {time.monotonic() - start:.0f} s, "
                  f"calibration {calib_dir})")


def _load_quantizer(method: str) -> Callable[..., Path]:
    if method == "gptq":
        from kizami.quantize.gptq import quantize_gptq

        return quantize_gptq
    from kizami.quantize.awq import quantize_awq

    return quantize_awq


@quantize_app.command("gptq")
def quantize_gptq_cmd(
    model: _Model, out: _QuantOut, bits: _Bits = 4, group_size: _GroupSize = 128,
    sym: Annotated[bool, typer.Option(help="Symmetric quantization (no zero point).")] = True,
    desc_act: Annotated[bool, typer.Option(help="Act-order: quantize columns by decreasing activation size.")] = False,
    damp_percent: Annotated[float, typer.Option(help="Hessian dampening (fraction of its mean diagonal).")] = 0.05,
    true_sequential: Annotated[bool, typer.Option(help="Quantize attention then MLP, each on quantized inputs.")] = True,
    calib: _Calib = "default", samples: _Samples = 128, seq_len: _SeqLen = 512, skip: _Skip = None,
    batch_size: _BatchSize = 4, device: _Device = "cpu", threads: _Threads = None, force: _Force = False,
) -> None:
    """GPTQ: second-order weight rounding learned from the calibration set (loads in transformers, vLLM, GPTQModel)."""
    from kizami.quantize.gptq import GPTQConfig

    cfg = GPTQConfig(bits=bits, group_size=group_size, sym=sym, desc_act=desc_act, damp_percent=damp_percent,
                     true_sequential=true_sequential, samples=samples, seq_len=seq_len, skip_modules=tuple(skip or ()),
                     batch_size=batch_size, device=device)
    _quantize("gptq", model, out, cfg, calib, force, threads)


@quantize_app.command("awq")
def quantize_awq_cmd(
    model: _Model, out: _QuantOut, bits: _Bits = 4, group_size: _GroupSize = 128,
    sym: Annotated[bool, typer.Option(help="Symmetric quantization (default: with a zero point, AWQ's usual layout).")] = False,
    calib: _Calib = "default", samples: _Samples = 128, seq_len: _SeqLen = 512, skip: _Skip = None,
    batch_size: _BatchSize = 4, device: _Device = "cpu", threads: _Threads = None, force: _Force = False,
) -> None:
    """AWQ: activation-aware per-channel scales searched on the calibration set (transformers, vLLM 4-bit, GPTQModel)."""
    from kizami.quantize.awq import AWQConfig

    cfg = AWQConfig(bits=bits, group_size=group_size, sym=sym, samples=samples, seq_len=seq_len,
                    skip_modules=tuple(skip or ()), batch_size=batch_size, device=device)
    _quantize("awq", model, out, cfg, calib, force, threads)


@standin_app.command("train")
def standin_train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the model into.")],
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = 2000,
    extra_code: Annotated[str, typer.Option(help="A folder of extra code to train on (default: Python's own library).")] = "",
) -> None:
    """Re-create the stand-in model from the built-in corpus (≈20 min on 2 cores). Held-out documents are never seen."""
    import sysconfig

    from kizami.standin.train import TrainConfig, train_standin

    cfg = TrainConfig(steps=steps, extra_code=extra_code or sysconfig.get_paths()["stdlib"])
    with _progress() as progress:
        advance = progress("training tiny-fcj", steps)
        train_standin(out, cfg, progress=lambda step, total, loss: advance(1))
    console.print(f"[green]wrote[/] {out}")


@standin_app.command("path")
def standin_show_path() -> None:
    """Print where the shipped stand-in model lives."""
    from kizami.standin import standin_path

    console.print(str(standin_path()))


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
        # one line whatever an engine's message looked like; escaped, or "[calib]" in a message would vanish as markup
        err_console.print(f"[red]error:[/] {escape(' '.join(str(exc).split()))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: nothing half-written was kept; re-run the same command to resume")
        sys.exit(130)
