from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kizami.calib_data.build import CalibConfig, allocate, load_documents
from kizami.calib_data.fim import read_tasks
from kizami.calib_data.recipe import load_recipe
from kizami.core import manifest
from kizami.core.errors import CalibError
from kizami.run.calib import build_calib, is_current


def test_default_recipe_covers_the_promised_mixture() -> None:
    recipe = load_recipe("default")
    langs = {s.language for s in recipe.sources}
    assert {"python", "javascript", "typescript", "java", "c", "cpp", "go", "rust", "shell", "sql", "cobol", "fortran",
            "ja", "en"} <= langs
    assert sum(recipe.shares().values()) == pytest.approx(1.0)
    calib, held, stats = load_documents(recipe)
    for name in calib:
        assert not {d.doc_id for d in calib[name]} & {d.doc_id for d in held[name]}
        assert stats[name]["license"].startswith("Apache-2.0")


def test_calibration_build_is_deterministic_packed_and_disjoint(calib_build: Path, standin: Path, tmp_path: Path) -> None:
    m = manifest.load(calib_build)
    assert manifest.verify(calib_build) == []
    samples = [json.loads(line) for line in (calib_build / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 32 and all(len(s["input_ids"]) == 256 for s in samples)
    assert len({tuple(s["input_ids"]) for s in samples}) == 32  # no sample twice
    # shares are met to within one sample per source
    for name, st in m.extra["sources"].items():
        assert abs(st["samples"] - st["share_target"] * 32) <= 1.0, name
    # held-out text never appears in calibration
    calib_text = (calib_build / "calib.txt").read_text()
    for line in (calib_build / "eval" / "ppl.jsonl").read_text().splitlines():
        doc = json.loads(line)["text"]
        probe = max(doc.split("\n"), key=len)
        assert probe not in calib_text
    # same inputs -> byte-identical samples and the same id
    again = build_calib(load_recipe("default"), standin, tmp_path / "again", CalibConfig(samples=32, seq_len=256, fim_per_language=4))
    assert manifest.load(again).calibration == m.calibration


def test_fim_tasks_are_single_lines_of_held_out_code(calib_build: Path) -> None:
    tasks = read_tasks(calib_build / "eval" / "fim.jsonl")
    held = "\n".join(json.loads(x)["text"] for x in (calib_build / "eval" / "ppl.jsonl").read_text().splitlines())
    assert len({t.language for t in tasks}) >= 10
    assert any(t.kind == "ja-comment" for t in tasks)
    for t in tasks:
        assert "\n" not in t.canonical_solution and t.suffix.startswith("\n")
        assert t.prompt + t.canonical_solution in held


def test_duplicates_are_removed_and_recipes_validated(tmp_path: Path, standin: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    body = "def add(a, b):\n    # 二つの数を足す\n    return a + b\n" * 40
    (src / "a.py").write_text(body)
    (src / "b.py").write_text(body.replace("\n", "  \n"))  # same text up to whitespace
    for i in range(6):
        (src / f"c{i}.py").write_text(f"x{i} = {i}\n" * 300)
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "t"\nseed = 1\n[[source]]\nname = "py"\npath = "src"\ndomain = "code"\nlanguage = "python"\nshare = 1\n')
    out = build_calib(load_recipe(recipe), standin, tmp_path / "out", CalibConfig(samples=4, seq_len=64, fim_per_language=2))
    assert manifest.load(out).extra["sources"]["py"]["duplicates_removed"] == 1
    recipe.write_text('name = "t"\n[[source]]\nname = "py"\npath = "src"\ndomain = "kode"\nlanguage = "python"\nshare = 1\n')
    with pytest.raises(CalibError, match="domain 'kode'"):
        load_recipe(recipe)
    recipe.write_text('name = "t"\nbogus = 1\n')
    with pytest.raises(CalibError, match="unknown key"):
        load_recipe(recipe)


def test_allocation_does_not_depend_on_the_processs_string_hashing() -> None:
    """Equal shares leave ties in the remainders; they go in the recipe's order, whatever PYTHONHASHSEED a process
    draws (a set there made two runs of one recipe sample different calibration sets)."""
    import subprocess
    import sys

    code = ("from kizami.calib_data.build import allocate; "
            "print(allocate(10, dict.fromkeys('python go rust sql cobol shell cpp'.split(), 1 / 7), "
            "dict.fromkeys('python go rust sql cobol shell cpp'.split(), 9)))")
    outs = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                           capture_output=True, text=True, check=True).stdout for seed in range(6)}
    assert outs == {"{'python': 2, 'go': 2, 'rust': 2, 'sql': 1, 'cobol': 1, 'shell': 1, 'cpp': 1}\n"}, outs


def test_allocate_moves_shortfall_to_sources_with_room() -> None:
    assert allocate(10, {"a": 0.5, "b": 0.5}, {"a": 100, "b": 100}) == {"a": 5, "b": 5}
    assert allocate(10, {"a": 0.8, "b": 0.2}, {"a": 3, "b": 100}) == {"a": 3, "b": 7}
    assert sum(allocate(7, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, {"a": 9, "b": 9, "c": 9}).values()) == 7
    with pytest.raises(CalibError, match="hold only 5 samples"):
        allocate(10, {"a": 1.0}, {"a": 5})


@pytest.mark.parametrize(("row", "message"), [
    ("not json", "not valid JSON"),
    ('{"name": "x"}', "missing or non-string"),
    ("[1, 2]", "expected a JSON object"),
])
def test_external_fim_files_are_read_or_rejected_clearly(tmp_path: Path, row: str, message: str) -> None:
    good = '{"name": "h/1", "language": "py", "prompt": "a", "suffix": "\\nb", "canonical_solution": "x"}'
    path = tmp_path / "t.jsonl"
    path.write_text(good + "\n")
    assert read_tasks(path)[0].canonical_solution == "x"
    path.write_text(good + "\n" + row + "\n")
    with pytest.raises(CalibError, match=message):
        read_tasks(path)


def test_a_calibration_set_is_reused_only_for_its_recipe_tokenizer_and_size(calib_build: Path, standin: Path,
                                                                           tmp_path: Path) -> None:
    import shutil

    recipe, cfg = load_recipe("default"), CalibConfig(samples=32, seq_len=256, fim_per_language=4)  # as conftest
    assert is_current(calib_build, recipe, standin, cfg)
    assert not is_current(calib_build, recipe, standin, CalibConfig(samples=64, seq_len=256, fim_per_language=4))
    other = tmp_path / "other-tokenizer"
    shutil.copytree(standin, other)
    tok = json.loads((other / "tokenizer.json").read_text())
    tok["added_tokens"][-1]["content"] = "<|other|>"
    (other / "tokenizer.json").write_text(json.dumps(tok))
    assert not is_current(calib_build, recipe, other, cfg)  # its token ids would be another model's
    assert not is_current(tmp_path / "missing", recipe, standin, cfg)
