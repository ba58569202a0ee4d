"""Deployable bundles: a build folder made ready to upload to the Hugging Face Hub or copy to a device.

A bundle is the build's files plus a model card (``README.md`` with Hub metadata, quantization details, calibration
provenance, the evaluation table and how to run it with its engine) and the source model's license files. Its
``kizami.json`` keeps the build's format and parameters and lists every file of the bundle, so ``kizami verify``
checks a bundle and the runtime loads it like the build itself. Optionally also a ``.tar.gz`` of the folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from kizami.core import manifest
from kizami.core.errors import KizamiError
from kizami.formats import get_format
from kizami.run.report_text import columns, result_row
from kizami.runtime.result import EvalResult

__all__ = ["BundleCard", "make_bundle", "model_card", "card_metadata", "machine_paths", "find_result", "unpack_bundle"]

log = logging.getLogger(__name__)

_LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "NOTICE", "NOTICE.txt", "USE_POLICY.md")


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleCard:
    """What the model card says beyond the build's own facts."""

    base_model: str = ""  # the upstream repo id, e.g. future-architect/Llama-3.1-Future-Code-Ja-8B
    license: str = ""
    repo: str = ""  # where the bundle will live on the Hub (its name in snippets)
    quantized_by: str = "kizami"  # the Hub's `quantized_by`: who made the build


def _prompt_format(build: Path, m: manifest.Manifest) -> list[str]:
    """The FIM dialect the build's tokens fit and the chat template's output for one user turn (sandboxed)."""
    from kizami.formats.snippets import build_facts

    facts = build_facts(build, repo="", source=m.source_path)
    lines = ["## Prompt format", ""]
    if facts.dialect is not None:
        lines += [facts.dialect.card_text(), ""]
    if facts.prompt:
        lines += ["Chat, one user turn through the model's chat template:", "", "```text", facts.prompt.rstrip("\n"),
                  "```", ""]
    return lines if len(lines) > 2 else []


def _eval_table(result: EvalResult | None, reference: EvalResult | None) -> str:
    if not result:
        return "Not evaluated yet: `kizami eval BUILD --ref BF16_MODEL` measures it."
    rows = [("bf16 (reference)", reference), ("this build", result)] if reference else [("this build", result)]
    lines = ["| " + " | ".join(columns()) + " |", "|" + "---|" * len(columns())]
    for label, r in rows:
        if r is None:
            continue
        cells = result_row(r, label=label)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _metric_cards(result: EvalResult | None, reference: EvalResult | None) -> list[str]:
    """Each metric's own card section (e.g. the per-language HumanEval table), after the evaluation table."""
    from kizami.runtime.metrics import report_order

    return [line for m in report_order() for line in m.card(result, reference)] if result else []


_ABSOLUTE = re.compile(r"^(/|~|[A-Za-z]:[\\/])")


def _no_paths(value: Any) -> Any:
    """``value`` with every absolute path (of the machine that made the build) cut to its last part."""
    if isinstance(value, str) and _ABSOLUTE.match(value):
        return f"…/{PurePath(value).name}"
    if isinstance(value, dict):
        return {k: _no_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_paths(v) for v in value]
    return value


def card_metadata(m: manifest.Manifest, card: BundleCard) -> dict[str, Any]:
    """The Hub metadata (YAML front matter) of a build's card."""
    unit = get_format(m.format)
    return {"base_model": card.base_model or None, "base_model_relation": "quantized" if card.base_model else None,
            "quantized_by": card.quantized_by or None, "license": card.license or None,
            "library_name": unit.library_name, "pipeline_tag": "text-generation",
            "tags": list(dict.fromkeys(["kizami", *unit.tags(m), "code", "japanese"])), "language": ["ja", "en"]}


def model_card(build: Path, m: manifest.Manifest, card: BundleCard, *, result: EvalResult | None,
               reference: EvalResult | None, folder: str = "") -> str:
    """The bundle's README.md. ``folder``: the bundle's folder name (the download target in the card)."""
    fmt, unit = m.format, get_format(m.format)
    base_model, license, repo = card.base_model, card.license, card.repo
    meta = card_metadata(m, card)
    front = "\n".join(["---", *(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in meta.items() if v), "---"])
    calib = m.calibration or {}
    # the set's id names its recipe (kizami-default-…: the code + Japanese mixture); not every build used that one
    calib_text = (f"`{calib.get('id')}` (sha256 `{str(calib.get('sha256', ''))[:16]}…`); the set's manifest lists "
                  "every source and its share." if calib else "none (this build needs none).")
    params = json.dumps(_no_paths(dict(m.parameters)), indent=2, ensure_ascii=False)
    folder = folder or build.name
    title = repo.split("/")[-1] if repo else folder
    source_name = PurePath(str((m.source or {}).get("path", "") or "the source model")).name
    where = (f"Run the snippets from inside the downloaded folder: `hf download {repo} --local-dir {folder} && "
             f"cd {folder}`." if repo else f"Run the snippets from inside this folder (`cd {folder}`).")
    return "\n".join([
        front, "", f"# {title}", "",
        f"A **{fmt.upper()}** build of `{base_model or source_name}`, made and "
        "measured by kizami against the bf16 original on the same token ids.",
        "", "## Evaluation vs bf16", "", _eval_table(result, reference), "", *_metric_cards(result, reference),
        "## How to run", "", where, "", unit.how_to_run(build, m, repo), "", *_prompt_format(build, m),
        "## Quantization", "", f"- format: `{fmt}`", f"- calibration set: {calib_text}",
        f"- source checkpoint sha256: `{(m.source or {}).get('sha256', '?')}`",
        f"- made with: {', '.join(f'{k} {v}' for k, v in m.versions.items())}", "",
        "<details><summary>all parameters</summary>", "", "```json", params, "```", "", "</details>", "",
        "## License", "", (f"`{license}`; the source model's license files are included." if license
                           else "See the source model's license files included here."), "",
        "`kizami.json` lists the sha256 of every file in this folder: `kizami verify .` checks them.", ""])


def machine_paths(text: str, *paths: Path) -> list[str]:
    """The paths of the building machine that ``text`` mentions (the home folder, the given folders, /tmp)."""
    candidates = {str(Path.home()), "/tmp/", *(str(Path(p).resolve()) for p in paths), *(str(p) for p in paths)}
    return sorted(c for c in candidates if c not in ("", "/", ".") and c in text)


def find_result(results: Any, build: Path) -> tuple[EvalResult | None, EvalResult | None]:
    """The build's result (and bf16's) from a run's results.json or a `kizami eval` output, as loaded JSON."""
    if not isinstance(results, dict):
        return None, None

    def same(r: EvalResult) -> bool:
        return Path(r.build).resolve() == Path(build).resolve()

    if "results" in results:  # a run summary
        rows = {n: EvalResult.from_dict(r) for n, r in results["results"].items()}
        return next((r for r in rows.values() if same(r)), None), rows.get("bf16")
    one = EvalResult.from_dict(results)
    return (one if same(one) else None), None


def make_bundle(build: Path, out: Path, *, card: BundleCard = BundleCard(), result: EvalResult | None = None,
                reference: EvalResult | None = None, tarball: bool = False, overwrite: bool = False) -> Path:
    """Write the bundle folder ``out`` (and ``out.tar.gz`` when ``tarball``) from the verified build ``build``."""
    build, out = Path(build), Path(out)
    problems = manifest.verify(build)
    if problems:
        raise KizamiError(f"{build} does not verify ({len(problems)} problem(s), first: {problems[0].file}: "
                          f"{problems[0].issue}); rebuild it, or see `kizami verify {build}`")
    m = manifest.load(build)
    if m.format == "calib":
        raise KizamiError(f"{build} is a calibration set, not a model build")
    source_dir = Path((m.source or {}).get("path", ""))
    bundle_manifest = manifest.Manifest(format=m.format, parameters=m.parameters, source=m.source,
                                        calibration=m.calibration, versions=m.versions,
                                        extra={**m.extra, "bundle": {"base_model": card.base_model, "license": card.license,
                                                                     "repo": card.repo, "build_created_at": m.created_at}})
    with manifest.staged_build(out, bundle_manifest, overwrite=overwrite) as stage:
        for rel in m.files:
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(build / rel, stage / rel)
        for name in _LICENSE_FILES:
            if (source_dir / name).is_file() and not (stage / name).exists():
                shutil.copy(source_dir / name, stage / name)
        unit = get_format(m.format)
        text = model_card(build, m, card, result=result, reference=reference, folder=out.name)
        leaks = machine_paths(text, build, out, source_dir)
        if leaks:
            raise KizamiError(f"the model card of {build} names path(s) of this machine ({', '.join(leaks)}); this is a "
                              "kizami bug: report it with the build's kizami.json")
        (stage / "README.md").write_text(text, encoding="utf-8")
        for name, content in unit.bundle_files(build, m, card.repo).items():
            (stage / name).write_text(content, encoding="utf-8")
    if tarball:  # weights barely compress: the tarball needs about the bundle's size
        manifest.check_free_space(out.parent, sum(int(f["size"]) for f in m.files.values()), "the bundle tarball")
        _write_tarball(out)
    return out


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link costs no space for multi-GB weights; copy across file systems."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def unpack_bundle(tarball: Path, out: Path, *, overwrite: bool = False) -> Path:
    """Extract a bundle tarball from anywhere into ``out``, only if every entry is safe and every file verifies.

    Each entry is checked before anything is written: regular files and folders only (no links, devices or FIFOs),
    relative paths without ``..``, all under one top folder holding ``kizami.json``. Files are then streamed into a
    staging folder, checked against the bundle's manifest (size, sha256, nothing unlisted) and renamed to ``out``.
    """
    tarball, out = Path(tarball), Path(out)
    if out.exists() and not overwrite:  # before reading the archive, which for a large one takes a while
        raise KizamiError(f"{out} already exists; choose another -o or pass --overwrite")
    try:
        tar = tarfile.open(tarball, "r:*")
    except FileNotFoundError:
        raise KizamiError(f"{tarball} not found; give a bundle .tar.gz") from None
    except (OSError, tarfile.TarError, EOFError):
        raise KizamiError(f"{tarball} is not a tar archive (plain, gzip, bzip2 or xz); download it again") from None
    with tar:
        try:
            members = tar.getmembers()
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise KizamiError(f"{tarball} is damaged or truncated ({exc}); download it again") from None
        top = _check_members(tarball, members)
        manifest.check_free_space(out.parent, sum(m.size for m in members), f"unpacking {tarball.name}")
        try:
            with manifest.staging(out, overwrite=overwrite) as stage:
                for member in members:
                    rel = Path(*Path(member.name).parts[1:])
                    if member.isdir():
                        (stage / rel).mkdir(parents=True, exist_ok=True)
                        continue
                    (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, open(stage / rel, "wb") as dst:  # type: ignore[union-attr]
                        shutil.copyfileobj(src, dst, 1 << 22)
                problems = manifest.verify(stage)
                if problems:
                    raise KizamiError(f"{tarball}: {len(problems)} file(s) do not match the bundle's manifest (first: "
                                      f"{problems[0].file}: {problems[0].issue}); it was altered, nothing was unpacked")
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise KizamiError(f"{tarball} could not be unpacked ({exc}); nothing was kept") from None
    log.info("unpacked %s (top folder %s) into %s", tarball, top, out)
    return out


def _check_members(tarball: Path, members: list[tarfile.TarInfo]) -> str:
    """The archive's one top folder; raises, naming the entry, on anything that could write outside it."""
    if not members:
        raise KizamiError(f"{tarball} is empty; not a kizami bundle")
    tops = set()
    for m in members:
        parts = Path(m.name).parts
        if m.name.startswith(("/", "\\")) or Path(m.name).is_absolute():
            raise KizamiError(f"{tarball}: entry {m.name!r} has an absolute path; refused, nothing was unpacked")
        if ".." in parts:
            raise KizamiError(f"{tarball}: entry {m.name!r} climbs out with '..'; refused, nothing was unpacked")
        if m.issym() or m.islnk():
            raise KizamiError(f"{tarball}: entry {m.name!r} is a link (to {m.linkname!r}); bundles hold plain files "
                              "only, refused, nothing was unpacked")
        if not (m.isfile() or m.isdir()):
            raise KizamiError(f"{tarball}: entry {m.name!r} is a device, FIFO or other special file; refused, nothing "
                              "was unpacked")
        tops.add(parts[0] if parts else "")
    if len(tops) != 1 or "" in tops:
        raise KizamiError(f"{tarball}: a bundle has one top folder, this has {len(tops)}; refused")
    top = tops.pop()
    if not any(m.isfile() and m.name.rstrip("/") == f"{top}/{manifest.MANIFEST_NAME}" for m in members):
        raise KizamiError(f"{tarball}: no {top}/{manifest.MANIFEST_NAME}; not a kizami bundle")
    return top


def _write_tarball(folder: Path) -> Path:
    final = folder.with_name(folder.name + ".tar.gz")
    tmp = final.with_name(final.name + ".partial")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    tmp.replace(final)
    return final
