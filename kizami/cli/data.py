"""`kizami calib`, `kizami toolchain` and `kizami standin`: the data, tools and models kizami brings along."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from kizami.builders import default_of as d
from kizami.calib_data.build import CalibConfig
from kizami.cli.render import console

__all__ = ["calib_app", "toolchain_app", "standin_app"]

calib_app = typer.Typer(help="Build and inspect calibration sets (code + Japanese) and evaluation sets.", no_args_is_help=True)
toolchain_app = typer.Typer(help="The llama.cpp converter and tools kizami uses for GGUF.", no_args_is_help=True)
standin_app = typer.Typer(help="The built-in stand-in models (small Llama-shaped models with FIM).", no_args_is_help=True)


@toolchain_app.command("build")
def toolchain_build(
    force: Annotated[bool, typer.Option(help="Rebuild even if every tool is present.")] = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parallel compile jobs (default: all cores).")] = None,
) -> None:
    """Fetch the pinned llama.cpp source and build llama-quantize, llama-imatrix, llama-perplexity, llama-bench,
    llama-gguf-split and llama-server."""
    from kizami.core import toolchain

    with console.status("building llama.cpp tools (≈5 min on 2 cores)…"):
        chain = toolchain.build(jobs=jobs, force=force)
    console.print(f"[green]ready[/] converter {chain.converter}\n      tools in {chain.bin_dir}")


@toolchain_app.command("source")
def toolchain_source() -> None:
    """Print the path of the pinned llama-cpp-python source archive (downloading it once)."""
    from kizami.core import toolchain

    print(toolchain.source_archive())


@toolchain_app.command("show")
def toolchain_show() -> None:
    """Print where the converter and tools are, and which are missing."""
    from kizami.core import toolchain

    chain = toolchain.find()
    missing = chain.missing()
    console.print(f"source: {chain.root}\ntools:  {chain.bin_dir}\n"
                  + (f"[red]missing:[/] {', '.join(missing)} — run `kizami toolchain build`" if missing else "[green]complete[/]"))


@calib_app.command("build")
def calib_build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the calibration build.")],
    recipe: Annotated[str, typer.Option(help="`default` (built-in code + Japanese mixture) or a recipe .toml.")] = "default",
    tokenizer: Annotated[str, typer.Option(help="Tokenizer to pack with: a model folder, or `tiny-fcj`.")] = "tiny-fcj",
    samples: Annotated[int, typer.Option(help="Number of calibration samples.")] = d(CalibConfig, "samples"),
    seq_len: Annotated[int, typer.Option(help="Tokens per sample (BOS included).")] = d(CalibConfig, "seq_len"),
    fim_per_language: Annotated[int, typer.Option(help="Single-line FIM tasks per language, from held-out code.")] = 20,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
) -> None:
    """Build a calibration set (N samples x L tokens) and its held-out evaluation sets (perplexity texts, FIM tasks)."""
    from kizami.calib_data.recipe import load_recipe
    from kizami.run.calib import build_calib
    from kizami.standin import resolve_model

    cfg = CalibConfig(samples=samples, seq_len=seq_len, fim_per_language=fim_per_language)
    with console.status("building calibration set…") as status:
        build_calib(load_recipe(recipe), resolve_model(tokenizer), out, cfg, overwrite=overwrite,
                    progress=lambda msg: status.update(f"calibration set: {msg}…"))
    calib_show(out)


@calib_app.command("show")
def calib_show(path: Annotated[Path, typer.Argument(help="A calibration build folder.")]) -> None:
    """Show a calibration set's mixture by source, language and tokens."""
    from kizami.cli.render import calib_table
    from kizami.run.calib import load_calib

    table, footer = calib_table(path, load_calib(path))
    console.print(table)
    console.print(footer)


@standin_app.command("train")
def standin_train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the model into.")],
    model: Annotated[str, typer.Option(help="Which stand-in: tiny-fcj (Llama 3.1-shaped) or tiny-codellama.")] = "tiny-fcj",
    steps: Annotated[Optional[int], typer.Option(help="Optimizer steps (default: the stand-in's own).")] = None,
    extra_code: Annotated[str, typer.Option(help="tiny-fcj: a folder of extra code to train on (default: Python's "
                                                 "own library).")] = "",
) -> None:
    """Re-create a stand-in model from the built-in corpus (tiny-fcj ≈20 min on 2 cores, tiny-codellama ≈8 min on one).
    Held-out documents are never seen."""
    import sysconfig

    from kizami.cli.render import progress_bar
    from kizami.core.progress import counter
    from kizami.standin.train import train_named

    extra = extra_code or (sysconfig.get_paths()["stdlib"] if model == "tiny-fcj" else "")
    with progress_bar() as progress:
        advance: list[Any] = []

        def on_step(_step: int, total: int, loss: float) -> None:
            if not advance:
                advance.append(counter(progress, f"training {model}", total))
            advance[0](1, f"loss {loss:.3f}")

        train_named(model, out, steps=steps, extra_code=extra, progress=on_step)
    console.print(f"[green]wrote[/] {out}")


@standin_app.command("path")
def standin_show_path(
    name: Annotated[str, typer.Argument(help="tiny-fcj or tiny-codellama.")] = "tiny-fcj",
) -> None:
    """Print where a shipped stand-in model lives."""
    from kizami.standin import standin_path

    print(standin_path(name))


@standin_app.command("synth")
def standin_synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the checkpoint into.")],
    shape: Annotated[str, typer.Option(help="llama-3.1-8b (the target) or codellama-7b.")] = "llama-3.1-8b",
    layers: Annotated[int, typer.Option(help="Decoder layers (the full model has 32; 1-2 fit anywhere).")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed of the weights.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
) -> None:
    """Write a checkpoint with a real model's exact shape (config, 128k vocabulary, sharded bf16 safetensors) and random
    weights, to find what breaks or swells at full width. It measures time and memory, never quality."""
    from kizami.cli.render import progress_bar
    from kizami.standin.synth import synth

    with progress_bar(f"synthetic {shape}", transient=True) as progress:
        path = synth(out, shape=shape, layers=layers, seed=seed, overwrite=overwrite, progress=progress)
    size = sum(p.stat().st_size for p in path.glob("*.safetensors"))
    console.print(f"[green]wrote[/] {path} ({size / 2**30:.2f} GiB in {len(list(path.glob('*.safetensors')))} shards)")
