"""lm-evaluation-harness through kizami's Backend protocol, offline: local YAML tasks over a JSONL file written here.

On the torch backend lm-eval's loglikelihoods and word perplexity equal kizami's own scoring of the same ids (to 1e-4);
a multiple-choice accuracy comes out for a GGUF and an ONNX build too.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from tests import bundle_builds as bb
from tests.engines import require

DOCS = [
    {"text": "def add(a, b):\n    return a + b\n", "question": "def add(a, b):\n    return a", "choices": [" + b", " * b"],
     "answer": 0},
    {"text": "# 二つの数を足す\nx = 1 + 2\nprint(x)\n", "question": "x = 1 + 2\nprint(", "choices": ["x)", "y)"], "answer": 0},
    {"text": "for i in range(10):\n    print(i)\n", "question": "for i in range(10):\n    print(", "choices": ["i)", "j)"],
     "answer": 0},
]

TASKS = """
task: kz_ppl
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
    aggregation: weighted_perplexity
    higher_is_better: false
  - metric: byte_perplexity
    aggregation: weighted_perplexity
    higher_is_better: false
---
task: kz_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
target_delimiter: ""
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("lm_eval")
    folder = tmp_path_factory.mktemp("lm_eval_tasks")
    data = folder / "docs.jsonl"
    data.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS), encoding="utf-8")
    for i, text in enumerate(TASKS.strip().split("---")):
        (folder / f"task{i}.yaml").write_text(text.format(data=data), encoding="utf-8")
    return folder


def test_loglikelihoods_and_word_perplexity_equal_kizamis_own_scoring(tasks: Path, standin: Path) -> None:
    from kizami.runtime import open_build
    from kizami.runtime.lm_eval import run_tasks

    backend = open_build(standin, threads=2)
    res = run_tasks(standin, ["kz_ppl", "kz_mc"], include_path=tasks, backend=backend, log_samples=True)
    bos = backend.token_id("<|begin_of_text|>")

    def own(ids: list[int], n: int) -> float:  # kizami's scoring: the last n targets of [BOS] + ids
        return float(backend.score([bos, *ids]).target[-n:].astype("float64").sum())

    # word perplexity: exp(-sum of loglikelihoods / words), the loglikelihoods from kizami's own scores
    total = sum(own(ids := backend.tokenize([d["text"]])[0], len(ids)) for d in DOCS)
    words = sum(len(re.split(r"\s+", d["text"])) for d in DOCS)  # lm-eval's count_words
    got = res["results"]["kz_ppl"]["word_perplexity,none"]
    assert math.isclose(got, math.exp(-total / words), rel_tol=1e-4), (got, math.exp(-total / words))
    per_doc = [s["resps"][0][0] for s in sorted(res["samples"]["kz_ppl"], key=lambda s: s["doc_id"])]
    for d, ll in zip(DOCS, per_doc):
        ids = backend.tokenize([d["text"]])[0]
        assert abs(float(ll) - own(ids, len(ids))) < 1e-4
    # multiple choice: each choice's loglikelihood is kizami's score of the continuation's ids after the context's
    for s in res["samples"]["kz_mc"]:
        d = DOCS[s["doc_id"]]
        for choice, resp in zip(d["choices"], s["resps"]):
            whole = backend.tokenize([d["question"] + choice])[0]
            n = len(whole) - len(backend.tokenize([d["question"]])[0])
            assert abs(float(resp[0][0]) - own(whole, n)) < 1e-4
    assert 0.0 <= res["results"]["kz_mc"]["acc,none"] <= 1.0


@pytest.mark.parametrize("engine", ["gguf", "onnx"])
def test_multiple_choice_accuracy_on_gguf_and_onnx(engine: str, tasks: Path, standin: Path,
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    from kizami.runtime.lm_eval import run_tasks

    if engine == "gguf":
        require("llama_cpp")
        build = bb.gguf_f16(tmp_path_factory, standin)
    else:
        require("onnxruntime_genai")
        build = bb.onnx_int4(tmp_path_factory, standin)
    if engine == "onnx":
        res = run_tasks(build, ["kz_mc"], include_path=tasks, threads=2)
        assert 0.0 <= res["results"]["kz_mc"]["acc,none"] <= 1.0
        return
    # the GGUF one through the command, as a user runs it: a clean output, no third-party deprecation notes
    import typer
    from typer.testing import CliRunner

    from kizami.cli.lm_eval import lm_eval_command

    app = typer.Typer()
    app.command("lm-eval")(lm_eval_command)
    app.command("noop")(lambda: None)  # two commands: typer keeps "lm-eval" as a sub-command
    out = tmp_path_factory.mktemp("lm_eval_out") / "results.json"
    result = CliRunner().invoke(app, ["lm-eval", str(build), "--tasks", "kz_mc", "--include-path", str(tasks),
                                      "--threads", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "kz_mc acc" in result.output
    assert "Warning" not in result.output and "deprecat" not in result.output.lower(), result.output
    assert "examples/s" not in result.output and "it/s" not in result.output, result.output  # no progress bars
    assert 0.0 <= json.loads(out.read_text())["results"]["kz_mc"]["acc,none"] <= 1.0
