"""bench/scale.py's cost model: the fit, the holdout check and the N = 32 prediction, on made-up numbers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "bench" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("kizami_bench_scale", _PATH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_fit_recovers_fixed_and_per_layer_cost(scale):
    fixed, per = scale.fit_line([1, 2, 4], [10 + 3 * n for n in (1, 2, 4)])
    assert fixed == pytest.approx(10) and per == pytest.approx(3)
    assert scale.predict([1, 2, 4], [13, 16, 22], 32) == pytest.approx(106)
    assert scale.fit_line([2], [5.0]) == (5.0, 0.0)  # one point: all fixed
    with pytest.raises(ValueError):
        scale.fit_line([], [])


def test_holdout_check_flags_a_cost_that_is_not_linear(scale):
    linear = scale.check_fit([1, 2, 4], [13, 16, 22], holdout=4)
    assert linear["predicted"] == pytest.approx(22) and abs(linear["error"]) < 1e-9
    quadratic = scale.check_fit([1, 2, 4], [1, 4, 16], holdout=4)  # 1, 4 predict 10 at N = 4, not 16
    assert quadratic["predicted"] == pytest.approx(10) and quadratic["error"] == pytest.approx(-0.375)
    assert scale.check_fit([1, 4], [1, 4], holdout=4) is None  # one point left: no check


def test_analyse_names_the_slowest_and_the_hungriest_step(scale):
    def step(wall, rss):
        return {"rc": 0, "wall_s": wall, "peak_rss_gib": rss}

    runs = {str(n): {"gptq": step(60 + 80 * n, 6 + 0.05 * n), "gguf": step(30 + 10 * n, 9.0),
                     "synth": step(1000 * n, 50.0), "awq": {"rc": 1, "wall_s": 1, "peak_rss_gib": 99}}
            for n in (1, 2, 4)}
    a = scale.analyse(runs, target=32, holdout=4)
    assert a["steps"]["gptq"]["wall_s"]["predicted_32"] == pytest.approx(60 + 80 * 32)
    assert a["slowest_step"] == "gptq" and a["peak_rss_step"] == "gguf"  # synth is set-up, not the recipe
    assert "awq" not in a["steps"]  # failed runs are not fitted
    assert a["total_wall_s"] == pytest.approx(60 + 80 * 32 + 30 + 320, abs=0.2)


def test_engine_output_streams_line_by_line_and_errors_still_quote(tmp_path):
    from kizami.core.engine import EngineError, run_engine

    seen: list[str] = []
    out = run_engine([sys.executable, "-c", "print('a'); print('b')"], "demo", on_line=seen.append)
    assert seen == ["a", "b"] and out == "a\nb\n"
    with pytest.raises(EngineError, match="ValueError: boom"):
        run_engine([sys.executable, "-c", "raise ValueError('boom')"], "demo", on_line=seen.append)


def test_onnx_builder_output_becomes_per_layer_progress_with_an_eta(tmp_path):
    from kizami.export.onnx import _run_builder

    script = ("import time\nfor i in range(4):\n    print(f'Reading layer {i}', flush=True); time.sleep(0.05)\n"
              "for k in (5, 10, 20):\n    print(f'Quantized {k}/20 MatMul weights · 1 s', flush=True); time.sleep(0.05)\n")
    msgs: list[str] = []
    _run_builder([sys.executable, "-c", script], tmp_path, msgs.append, n_layers=4)
    assert [m.split(" (")[0] for m in msgs] == ["layers read 0/4", "layers read 1/4", "layers read 2/4",
                                               "layers read 3/4", "weights quantized 5/20", "weights quantized 10/20",
                                               "weights quantized 20/20"]
    firsts = (0, 4)  # a counter's first line has no rate yet
    assert all(("left)" in m) == (i not in firsts) for i, m in enumerate(msgs))
    assert msgs[-1].endswith("≈ 0 s left)")


def test_engine_counters_are_thinned_to_one_line_per_twentieth() -> None:
    from kizami.core.engine import counted_lines

    msgs: list[str] = []
    on_line = counted_lines(msgs.append, (r"^\[\s*(\d+)/\s*(\d+)\]", "Q4_K_M tensors", 0))
    for i in range(1, 293):
        on_line(f"[{i:4d}/ 292]   blk.{i}.attn_q.weight - [ 4096,  4096], type = f16, converting to q4_K")
    on_line("[ 292/ 292]   output.weight - [ 4096, 128256], type = f16, converting to q6_K")  # printed twice: once
    on_line("llama_model_quantize_impl: model size = 15317.02 MiB")
    assert 20 <= len(msgs) <= 21 and msgs[-1].startswith("Q4_K_M tensors 292/292")


def test_log_lines_carry_elapsed_time_and_eta():
    import time

    from kizami.core.progress import eta_suffix

    assert eta_suffix(time.monotonic() - 10, 1, 5).endswith("ETA 0:40")
    assert eta_suffix(time.monotonic(), 0, 5) == ""


def test_one_progress_shape_counts_stages_and_thins_log_lines():
    """A counted stage reports every twentieth (with its note) and its end; a log shows each report once, with the
    counts, and restarts the clock at a new stage."""
    from kizami.core.progress import LogLines, counter

    events: list[tuple[str, int, int]] = []
    advance = counter(lambda *e: events.append(e), "FIM exact match", 200)
    for i in range(200):
        advance(1, f"{i} tok/s")
    assert events[0] == ("FIM exact match", 0, 200) and events[-1] == ("FIM exact match · 199 tok/s", 200, 200)
    assert len(events) == 21 and [d for _, d, _ in events] == [0, *range(10, 201, 10)]

    lines: list[str] = []
    log = LogLines(lines.append, "q4: ")
    for event in [("converting", 0, 3), ("converting", 0, 3), ("quantizing", 1, 3), ("done", 3, 3), ("FIM", 0, 40)]:
        log(*event)
    assert [line.split(" · ")[0] for line in lines] == ["q4: converting 0/3", "q4: quantizing 1/3", "q4: done 3/3",
                                                         "q4: FIM 0/40"]
    assert "ETA" in lines[1] and "ETA" not in lines[2] and "ETA" not in lines[3]
    log("Q4_K_M tensors 12/292 (3 s, ≈ 70 s left)", 1, 3)  # an engine's own count: no second count or ETA
    assert lines[-1] == "q4: Q4_K_M tensors 12/292 (3 s, ≈ 70 s left)"
