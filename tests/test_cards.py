"""Model cards whose snippets run: each runnable block of a bundle's README.md (```` ```lang kizami:name ````) is
extracted and executed against the bundle with the real engine (transformers for GPTQ/AWQ, onnxruntime-genai,
llama-server over HTTP), so the card and this test cannot drift apart. Also: Hub metadata, no paths of the building
machine, GGUF file names checked with the naming convention's own pattern, the Ollama Modelfile's template rendered,
serving notes, and the llama-server runner's port retry and clean stop."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kizami.core import manifest
from kizami.formats.snippets import SAMPLE_FIM, extract
from tests import bundle_builds as bb
from tests.engines import REQUIRED, require

# ggml-org/ggml docs/gguf.md, "Validating Above Naming Convention" (named groups in Python's (?P<...>) spelling).
GGUF_NAME = re.compile(
    r"^(?:(?P<Sidecar>mmproj|mtp)-)?(?P<BaseName>[A-Za-z0-9\s]*(?:(?:-(?:(?:[A-Za-z\s][A-Za-z0-9\s]*)|(?:[0-9\s]*)))*))"
    r"-(?:(?P<SizeLabel>(?:\d+x)?(?:\d+\.)?\d+[A-Za-z](?:-[A-Za-z]+(\d+\.)?\d+[A-Za-z]+)?)(?:-(?P<FineTune>[A-Za-z0-9\s-]+))?)?"
    r"-(?:(?P<Version>v\d+(?:\.\d+)*))(?:-(?P<Encoding>(?!LoRA|vocab)[\w_]+))?(?:-(?P<Type>LoRA|vocab))?"
    r"(?:-(?P<Shard>\d{5}-of-\d{5}))?\.gguf$")

ENV = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}


def _llama_server() -> Path:
    from kizami.core import toolchain

    path = toolchain.find().bin_dir / "llama-server"
    if not path.is_file():
        message = f"llama-server is not built ({path}); `kizami toolchain build` builds it"
        if REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def _run_python(code: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env={**os.environ, **ENV, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"snippet failed in {cwd}:\n{code}\n--- stderr ---\n{proc.stderr[-3000:]}"
    return proc.stdout


def _printed(out: str, label: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith(f"{label}:")]
    assert lines, f"no {label!r} line in the snippet's output:\n{out}"
    return lines[-1][len(label) + 1:].strip()


@pytest.fixture(scope="module")
def gguf_bundle(tmp_path_factory: pytest.TempPathFactory, standin: Path) -> Path:
    require("llama_cpp")
    return bb.bundle_of(tmp_path_factory, bb.gguf_f16(tmp_path_factory, standin), "gguf-f16")


@pytest.fixture(scope="module")
def onnx_bundle(tmp_path_factory: pytest.TempPathFactory, standin: Path) -> Path:
    require("onnxruntime_genai")
    return bb.bundle_of(tmp_path_factory, bb.onnx_int4(tmp_path_factory, standin), "onnx-int4")


@pytest.fixture(scope="module", params=["gptq", "awq"])
def quant_bundle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, standin: Path,
                 calib_build: Path) -> Path:
    require("gptqmodel")
    make = bb.gptq_w4 if request.param == "gptq" else bb.awq_w4
    return bb.bundle_of(tmp_path_factory, make(tmp_path_factory, standin, calib_build), f"{request.param}-w4g128")


# ---- cards: metadata, no machine paths -------------------------------------------------------------------------

def _front(card: str) -> str:
    return card.split("---")[1]


def _check_card(bundle: Path, *, library: str, tags: list[str], standin: Path) -> str:
    from kizami.run.bundle import machine_paths

    card = (bundle / "README.md").read_text()
    front = _front(card)
    for line in ('base_model: "kizami/tiny-fcj"', 'base_model_relation: "quantized"', 'quantized_by: "kizami"',
                 f'library_name: "{library}"', 'pipeline_tag: "text-generation"'):
        assert line in front, (line, front)
    for tag in tags:
        assert f'"{tag}"' in front.split("tags:")[1].splitlines()[0], (tag, front)
    assert machine_paths(card, bundle, standin, Path.cwd()) == []
    assert manifest.verify(bundle) == []
    return card


def test_gguf_card(gguf_bundle: Path, standin: Path) -> None:
    card = _check_card(gguf_bundle, library="gguf", tags=["gguf", "F16", "16-bit"], standin=standin)
    assert set(extract(card)) == {"llama-server", "chat-http", "fim-http"}
    assert "<|fim_prefix|><|begin_of_text|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>" in card  # the dialect
    assert "/infill" in card and "Modelfile" in card


def test_onnx_card(onnx_bundle: Path, standin: Path) -> None:
    card = _check_card(onnx_bundle, library="onnxruntime-genai", tags=["onnx", "int4", "4-bit"], standin=standin)
    assert set(extract(card)) == {"onnxruntime-genai"}


def test_quantized_card_and_serving_notes(quant_bundle: Path, standin: Path) -> None:
    method = manifest.load(quant_bundle).format
    card = _check_card(quant_bundle, library="transformers", tags=[method, "4-bit"], standin=standin)
    assert set(extract(card)) == {"transformers"}
    kernel = "GPTQ-Marlin" if method == "gptq" else "AWQ-Marlin"
    assert re.search(rf"\| vLLM {kernel} \| yes \|", card), card.split("### Serving notes")[1][:600]
    assert "Source: vLLM's" in card


# ---- the snippets, run -----------------------------------------------------------------------------------------

def test_transformers_snippet_runs(quant_bundle: Path) -> None:
    snippet = extract((quant_bundle / "README.md").read_text())["transformers"]
    out = _run_python(snippet.code, cwd=quant_bundle)
    assert _printed(out, "chat") is not None and _printed(out, "middle") is not None


def test_onnx_snippet_runs(onnx_bundle: Path) -> None:
    snippet = extract((onnx_bundle / "README.md").read_text())["onnxruntime-genai"]
    out = _run_python(snippet.code, cwd=onnx_bundle)
    _printed(out, "chat")
    _printed(out, "middle")


def test_llama_server_snippets_run_and_fim_matches_kizami(gguf_bundle: Path) -> None:
    from kizami.core import fim_dialects
    from kizami.core.llama_server import post, serve
    from kizami.formats.snippets import fim_text
    from kizami.runtime import open_build
    from kizami.runtime.backend import GenRequest

    server = _llama_server()
    snippets = extract((gguf_bundle / "README.md").read_text())
    env = {"PATH": f"{server.parent}{os.pathsep}{os.environ['PATH']}"}
    code = snippets["llama-server"].code  # reads its port from $PORT
    with serve(lambda port: ["env", f"PORT={port}", "bash", "-c", code], cwd=gguf_bundle, env=env) as srv:
        chat = _run_python(snippets["chat-http"].code, cwd=gguf_bundle, env={"LLAMA_SERVER": srv.url})
        fim = _run_python(snippets["fim-http"].code, cwd=gguf_bundle, env={"LLAMA_SERVER": srv.url})
        prefix, suffix = SAMPLE_FIM
        dialect = fim_dialects.get("llama3-fim")
        text = fim_text(dialect, prefix, suffix)
        served_ids = post(srv.url, "/tokenize", {"content": text, "add_special": False, "parse_special": True})["tokens"]
    assert srv.pid and not _alive(srv.pid)  # stopped on leaving the block
    _printed(chat, "chat")
    backend = open_build(gguf_bundle, threads=2)
    ids = dialect.prompt_ids(lambda t: backend.tokenize([t])[0], backend.token_id, prefix, suffix, "psm")
    assert served_ids == ids  # the card's FIM request sends exactly kizami's prompt
    mine = backend.generate([GenRequest(prompt=ids, max_new_tokens=48, stop_strings=("\n",))])[0].text
    assert _printed(fim, "middle") == mine.strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- the server runner: a taken port is retried, the server always stops -----------------------------------------

def test_a_taken_port_is_retried_and_the_server_always_stops(gguf_bundle: Path) -> None:
    from kizami.core.llama_server import free_port, serve

    server = _llama_server()
    gguf = next(gguf_bundle.glob("*.gguf"))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)  # accepts connections, never answers HTTP
    busy = taken.getsockname()[1]

    def command(port: int) -> list[str]:
        return [str(server), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-c", "512", "-t", "2"]

    try:
        with pytest.raises(RuntimeError, match="boom"), serve(command, ports=[busy, free_port()]) as srv:
            assert srv.port != busy
            pid = srv.pid
            raise RuntimeError("boom")  # a failing test body
    finally:
        taken.close()
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


# ---- Ollama Modelfile: its Go template, rendered ------------------------------------------------------------------

def _go_render(template: str, data: dict) -> str:
    """The Go text/template subset the Modelfile uses: {{ .Field }}, if/else/end, range, and {{- -}} trimming."""
    tokens = re.split(r"(\{\{-?\s*.*?\s*-?\}\})", template, flags=re.S)
    for i, tok in enumerate(tokens):  # trim markers eat the whitespace next to them
        if tok.startswith("{{-") and i > 0:
            tokens[i - 1] = tokens[i - 1].rstrip()
        if tok.endswith("-}}") and i + 1 < len(tokens):
            tokens[i + 1] = tokens[i + 1].lstrip()
    pos = 0

    def block(ctx: dict) -> tuple[str, str]:
        nonlocal pos
        out = ""
        while pos < len(tokens):
            tok = tokens[pos]
            pos += 1
            if not tok.startswith("{{"):
                out += tok
                continue
            action = tok.strip("{}-").strip()
            if action in ("else", "end"):
                return out, action
            if action.startswith("if "):
                cond = bool(ctx.get(action[3:].strip().lstrip(".")))
                yes, stop = block(ctx)
                no = ""
                if stop == "else":
                    no, _ = block(ctx)
                out += yes if cond else no
            elif action.startswith("range "):
                start = pos
                items = ctx.get(action[6:].strip().lstrip("."), [])
                body_end = pos
                for item in items:
                    pos = start
                    text, _ = block({**ctx, **item})
                    out += text
                    body_end = pos
                if not items:
                    block(ctx)
                    body_end = pos
                pos = body_end
            else:
                out += str(ctx.get(action.lstrip("."), ""))
        return out, ""

    return block(data)[0]


def test_modelfile_template_writes_the_models_fim_and_chat_prompts(gguf_bundle: Path, standin: Path) -> None:
    from kizami.core import fim_dialects
    from kizami.core.checkpoint import chat_template, render_chat

    text = (gguf_bundle / "Modelfile").read_text()
    gguf = next(gguf_bundle.glob("*.gguf")).name
    assert text.startswith(f"FROM ./{gguf}\n")
    template = re.search(r'TEMPLATE """(.*?)"""', text, re.S).group(1)
    assert 'PARAMETER stop "<|eot_id|>"' in text
    prefix, suffix = "def f(x):\n    ", "return y\n"  # Ollama sends the suffix as given: no leading newline here
    fim = _go_render(template, {"Prompt": prefix, "Suffix": suffix, "Messages": []})
    assert fim == "<|fim_prefix|><|begin_of_text|>" + prefix + "<|fim_suffix|>" + suffix + "<|fim_middle|>"
    assert fim == fim_dialects.get("llama3-fim").template("psm").replace("{prefix}", prefix).replace("{suffix}", suffix)
    messages = [{"Role": "user", "Content": "def fib(n): を説明して"}]
    chat = _go_render(template, {"Prompt": "", "Suffix": "", "Messages": messages})
    expected = render_chat(chat_template(standin)).removeprefix("<|begin_of_text|>")  # Ollama puts the BOS itself
    assert chat == expected


# ---- names and serving notes -------------------------------------------------------------------------------------

def test_gguf_file_names_follow_the_naming_convention(gguf_bundle: Path) -> None:
    from kizami.export.gguf import file_name

    assert GGUF_NAME.match("Grok-100B-v1.0-Q4_0-00003-of-00009.gguf")  # the pattern as the convention shows it
    target = file_name("Llama-3.1-Future-Code-Ja", 8_030_261_248, "q4_k_m")
    m = GGUF_NAME.match(target)
    assert m and m["SizeLabel"] == "8B" and m["Version"] == "v1.0" and m["Encoding"] == "Q4_K_M", target
    for shard in (1, 3):
        name = target.replace(".gguf", f"-{shard:05d}-of-00003.gguf")
        assert GGUF_NAME.match(name)["Shard"] == f"{shard:05d}-of-00003"
    tuned = GGUF_NAME.match(file_name("Llama 3.1 Future Code Ja", 8_030_261_248, "f16", finetune="Instruct.v2"))
    assert tuned and tuned["FineTune"] == "Instruct-v2"
    (built,) = gguf_bundle.glob("*.gguf")
    m = GGUF_NAME.match(built.name)
    assert m and m["BaseName"] == "tiny-fcj" and m["Encoding"] == "F16", built.name


def test_a_config_off_the_fast_path_warns_at_build_time(standin: Path, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from kizami.builders.gptq import GPTQ
    from kizami.core.errors import KizamiError
    from kizami.formats.gptq import fast_kernels
    from kizami.quantize.gptq import GPTQConfig

    assert fast_kernels("gptq", {"bits": 4, "group_size": 128, "sym": True})[0][1]
    assert not fast_kernels("gptq", {"bits": 4, "group_size": 256, "sym": True})[0][1]
    assert not fast_kernels("awq", {"bits": 8, "group_size": 128})[0][1]
    with caplog.at_level("WARNING"), pytest.raises(KizamiError, match="calibration"):
        GPTQ.build(standin, tmp_path / "x", GPTQConfig(bits=4, group_size=256, sym=False), calib=None)
    text = caplog.text
    assert "falls off the fast serving path" in text and "group size 256" in text and "asymmetric" in text
