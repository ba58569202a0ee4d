"""HumanEval-format problems: the built-in set, files, one clear error per bad input, infilling tasks, and the
``kizami problems check`` command."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kizami.calib_data.problems import (
    FIELDS,
    INFILL_KINDS,
    InfillConfig,
    Problem,
    load_problems,
    make_infill_tasks,
    read_problems,
)
from kizami.cli.problems import problems_app
from kizami.core.errors import CalibError

GOOD = {"task_id": "t/0", "prompt": "def add(a, b):\n    \"\"\"Add.\"\"\"\n",
        "canonical_solution": "    s = a + b\n    return s\n",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "add"}


def _write(path: Path, rows: list[dict], *, gz: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


def _problem(i: int, **changes: str) -> dict:
    return {**GOOD, "task_id": f"t/{i}", **changes}


def test_the_builtin_set_has_164_problems_in_humaneval_format() -> None:
    probs = load_problems("humaneval")
    assert len(probs) == 164 and len({p.task_id for p in probs}) == 164
    assert probs[0].task_id == "HumanEval/0" and probs[0].entry_point == "has_close_elements"
    assert probs[0].program("X").startswith(probs[0].prompt + "X\n" + probs[0].test)
    assert probs[0].program("X").endswith("\ncheck(has_close_elements)\n")


@pytest.mark.parametrize("gz", [False, True])
def test_a_jsonl_file_plain_or_gzipped(tmp_path: Path, gz: bool) -> None:
    path = _write(tmp_path / ("p.jsonl.gz" if gz else "p.jsonl"), [_problem(0), _problem(1)], gz=gz)
    probs = read_problems(path)
    assert [p.task_id for p in probs] == ["t/0", "t/1"] and probs[1] == Problem(**_problem(1))


@pytest.mark.parametrize("field", ["test", "entry_point", "prompt"])
def test_a_missing_field_is_one_clear_error(tmp_path: Path, field: str) -> None:
    row = _problem(1)
    del row[field]
    path = _write(tmp_path / "p.jsonl", [_problem(0), row])
    with pytest.raises(CalibError, match=rf"p.jsonl:2: missing field '{field}'; each line needs"):
        read_problems(path)


@pytest.mark.parametrize(("changes", "message"), [
    ({"canonical_solution": "    return a +\n"}, r"t/0\): prompt \+ canonical_solution \+ test does not compile"),
    ({"test": "def check(candidate):\nassert True\n"}, r"does not compile: expected an indented block"),
    ({"entry_point": "add me"}, r"entry_point 'add me' is not a Python name"),
    ({"test": 3}, r"field 'test' must be a string, got int"),
])
def test_a_broken_problem_is_refused_up_front(tmp_path: Path, changes: dict, message: str) -> None:
    path = _write(tmp_path / "p.jsonl", [_problem(0, **changes)])
    with pytest.raises(CalibError, match=message):
        read_problems(path)


def test_problems_are_compiled_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    row = _problem(0, test=f"open({str(marker)!r}, 'w').close()\ndef check(candidate):\n    pass\n")
    read_problems(_write(tmp_path / "p.jsonl", [row]))
    assert not marker.exists()


@pytest.mark.parametrize(("content", "message"), [
    (b'{"task_id": "caf\xe9"}\n', r"p.jsonl:1: not UTF-8"),
    (b"{not json\n", r"p.jsonl:1: not valid JSON"),
    (b"[1, 2]\n", r"p.jsonl:1: expected a JSON object"),
    (b"\n\n", r"holds no problems"),
])
def test_bad_files_get_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    with pytest.raises(CalibError, match=message):
        read_problems(path)


def test_missing_file_and_duplicate_ids(tmp_path: Path) -> None:
    with pytest.raises(CalibError, match="does not exist"):
        load_problems(tmp_path / "nope.jsonl")
    with pytest.raises(CalibError, match=r"p.jsonl:2: task_id 't/0' already used on line 1"):
        read_problems(_write(tmp_path / "p.jsonl", [_problem(0), _problem(0)]))
    with pytest.raises(CalibError, match="cannot read"):
        read_problems(_write(tmp_path / "p.jsonl.gz", [_problem(0)]))  # not actually gzipped


def test_infilling_tasks_rebuild_the_solution_and_are_deterministic() -> None:
    probs = load_problems("humaneval")[:40]
    cfg = InfillConfig(per_problem=2, seed=3)
    tasks = make_infill_tasks(probs, cfg)
    assert tasks == make_infill_tasks(probs, cfg)
    assert tasks != make_infill_tasks(probs, InfillConfig(per_problem=2, seed=4))
    # a subset draws the same tasks for the problems it keeps
    assert [t for t in tasks if t.problem_id in {"HumanEval/3", "HumanEval/7"}] == \
        make_infill_tasks([probs[3], probs[7]], cfg)
    by_id = {p.task_id: p for p in probs}
    for t in tasks:
        p = by_id[t.problem_id]
        assert t.prefix + t.middle + t.suffix == p.prompt + p.canonical_solution
        assert t.program(t.middle) == p.program(p.canonical_solution)
        assert t.middle.strip() and t.prefix.startswith(p.prompt)
        if t.kind != "random-span":
            assert not t.middle.startswith("\n") and not t.middle.endswith("\n")
            assert t.suffix == "" or t.suffix.startswith("\n")
        if t.kind == "single-line":
            assert "\n" not in t.middle
    counts = {k: sum(t.kind == k for t in tasks) for k in INFILL_KINDS}
    assert counts["single-line"] <= 80 and counts["random-span"] == 80 and counts["multi-line"] > 40
    assert len(make_infill_tasks(probs, InfillConfig(kinds=("single-line",)))) == 40
    with pytest.raises(ValueError, match="kinds must be among"):
        InfillConfig(kinds=("two-line",))


# --- kizami problems check -------------------------------------------------------------------------------------

def test_check_passes_a_sound_set_and_writes_each_outcome(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.jsonl", [_problem(0), _problem(1)])
    out = tmp_path / "result.json"
    res = CliRunner().invoke(problems_app, ["check", str(path), "-o", str(out), "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "passed" in res.output
    rows = json.loads(out.read_text())
    assert [(r["task_id"], r["outcome"]) for r in rows] == [("t/0", "passed"), ("t/1", "passed")]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_check_fails_when_a_canonical_solution_fails(tmp_path: Path) -> None:
    rows = [_problem(0), _problem(1, canonical_solution="    return a - b\n"),
            _problem(2, canonical_solution="    while True:\n        pass\n")]
    out = tmp_path / "result.json"
    res = CliRunner().invoke(problems_app, ["check", str(_write(tmp_path / "p.jsonl", rows)), "-o", str(out),
                                            "--timeout", "1"])
    assert res.exit_code == 1
    assert "t/1" in res.output and "t/2" in res.output and "failing tasks" in res.output
    assert [r["outcome"] for r in json.loads(out.read_text())] == ["passed", "failed", "timeout"]


def test_check_turns_bad_input_into_one_error_line(tmp_path: Path) -> None:
    row = _problem(0)
    del row["test"]
    out = tmp_path / "result.json"
    res = CliRunner().invoke(problems_app, ["check", str(_write(tmp_path / "p.jsonl", [row])), "-o", str(out)])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "missing field 'test'" in lines[0]
    assert "Traceback" not in res.output and not out.exists()


def test_fields_are_humanevals() -> None:
    assert FIELDS == ("task_id", "prompt", "canonical_solution", "test", "entry_point")
