"""The runnable snippets of a bundle's model card, generated from the build's own facts.

Each snippet is a fenced block whose info string names it (```` ```python kizami:transformers ````): the Hub renders
it as ordinary Python or shell, and ``tests/test_cards.py`` finds it with ``extract`` and runs it against the bundle
with the real engine, so the card and its test cannot drift apart. Snippets run from inside the bundle folder (the
card says how to download it there); the GGUF ones talk to ``llama-server`` at ``$LLAMA_SERVER`` (default
``http://127.0.0.1:8080``), and the server command reads its port from ``$PORT``.

The facts come from the build, never from the machine that made it: its tokenizer's special tokens pick the FIM
dialect (``kizami.core.fim_dialects``), its chat template decides the Ollama template, its file names the commands.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from kizami.core import fim_dialects
from kizami.core.fim_dialects import PREFIX, SUFFIX, Dialect

__all__ = ["Snippet", "BuildFacts", "INFO_PREFIX", "fence", "extract", "build_facts", "fim_text", "fim_text_expr",
           "transformers_snippet", "onnx_snippet", "llama_server_snippets", "modelfile", "SAMPLE_FIM", "SAMPLE_CHAT"]

INFO_PREFIX = "kizami:"  # a fenced block's info string "<lang> kizami:<name>" marks a snippet the tests run
_FENCE = re.compile(r"^```(\w+) " + re.escape(INFO_PREFIX) + r"([\w.-]+)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
SAMPLE_FIM = ("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n")  # prefix, suffix shown in the snippets
SAMPLE_CHAT = "Write a Python function that reverses a string."
_LLAMA3_HEADERS = ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")


@dataclass(frozen=True, slots=True)
class Snippet:
    name: str
    lang: str
    code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildFacts:
    """What the snippets need to know about a build, read from its files."""

    repo: str  # Hub repo id, or "" when unknown
    dialect: Dialect | None  # the FIM dialect its tokens fit, or None (no FIM, or one the snippets cannot write)
    prompt: str  # one user turn rendered through its chat template (sandboxed); "" without a template
    llama3_chat: bool  # ... in the Llama 3 header format (the Ollama template reproduces it)
    gguf: str = ""  # the GGUF file (first shard) for llama.cpp formats

    @property
    def fim(self) -> bool:
        return self.dialect is not None

    @property
    def chat(self) -> bool:
        """Has a chat template."""
        return bool(self.prompt)


def fence(lang: str, name: str, code: str) -> str:
    return f"```{lang} {INFO_PREFIX}{name}\n{code.rstrip()}\n```"


def extract(card: str) -> dict[str, Snippet]:
    """Every runnable snippet of a model card, by name."""
    return {m.group(2): Snippet(m.group(2), m.group(1), m.group(3)) for m in _FENCE.finditer(card)}


def _special_tokens(build: Path) -> set[str]:
    """The special (added) tokens' texts of a build: from tokenizer.json, else from the GGUF header."""
    tok = build / "tokenizer.json"
    if tok.is_file():
        try:
            data = json.loads(tok.read_text(encoding="utf-8"))
            return {t["content"] for t in data.get("added_tokens", []) if isinstance(t, dict) and "content" in t}
        except (OSError, ValueError):
            return set()
    ggufs = sorted(build.glob("*.gguf"))
    if ggufs:
        from kizami.core.gguf_header import read_metadata

        meta = read_metadata(ggufs[0])
        tokens, types = meta.get("tokenizer.ggml.tokens") or [], meta.get("tokenizer.ggml.token_type") or []
        return {t for t, k in zip(tokens, types) if k in (3, 4)}  # CONTROL, USER_DEFINED
    return set()


def _chat_template(build: Path, m_source: Path | None) -> str:
    from kizami.core.checkpoint import chat_template

    template = chat_template(build)
    if not template:
        ggufs = sorted(build.glob("*.gguf"))
        if ggufs:
            from kizami.core.gguf_header import read_metadata

            template = str(read_metadata(ggufs[0]).get("tokenizer.chat_template") or "")
    if not template and m_source is not None and m_source.is_dir():
        template = chat_template(m_source)
    return template


def build_facts(build: Path, *, repo: str, source: Path | None = None) -> BuildFacts:
    """Facts about ``build`` for its card (``source``: the checkpoint it came from, for a chat template it lacks)."""
    from kizami.core.checkpoint import render_chat

    build = Path(build)
    dialect = fim_dialects.detect(_special_tokens(build))
    if dialect is not None and (dialect.suffix_without_space or dialect.bos):
        dialect = None  # SentencePiece dialects need ids, not text: kizami.core.fim_dialects.prompt_ids builds them
    template = _chat_template(build, source)
    rendered = render_chat(template) if template else ""
    llama3 = bool(rendered) and all(t in rendered for t in _LLAMA3_HEADERS)
    ggufs = sorted(build.glob("*.gguf"))
    return BuildFacts(repo=repo, dialect=dialect, prompt=rendered, llama3_chat=llama3,
                      gguf=ggufs[0].name if ggufs else "")


def fim_text(dialect: Dialect, prefix: str, suffix: str, mode: str = "psm") -> str:
    """The FIM prompt as the card's snippets write it: text with the special tokens spelled out (what
    ``fim_text_expr`` evaluates to); tokenized with special tokens parsed, it gives ``dialect.prompt_ids``."""
    if dialect.drop_suffix_newline and suffix.startswith("\n"):
        suffix = suffix[1:]
    return "".join(prefix if p == PREFIX else suffix if p == SUFFIX else getattr(dialect, p)[0]
                   for p in dialect.layout(mode))


def fim_text_expr(dialect: Dialect, mode: str = "psm") -> str:
    """A Python expression building the FIM prompt text from ``prefix`` and ``suffix``."""
    template = dialect.template(mode)
    parts = re.split(r"(\{prefix\}|\{suffix\})", template)
    out = [{PREFIX: "prefix", SUFFIX: "suffix"}.get(p) or json.dumps(p, ensure_ascii=False) for p in parts if p]
    return " + ".join(out)


def _fim_lines(dialect: Dialect) -> list[str]:
    prefix, suffix = SAMPLE_FIM
    lines = [f"prefix, suffix = {json.dumps(prefix)}, {json.dumps(suffix)}"]
    if dialect.drop_suffix_newline:
        lines.append('suffix = suffix[1:] if suffix.startswith("\\n") else suffix  # middles never start with "\\n"')
    lines.append(f"prompt = {fim_text_expr(dialect)}")
    return lines


def transformers_snippet(f: BuildFacts, *, quantized: bool) -> str:
    lines = ["from transformers import AutoModelForCausalLM, AutoTokenizer", "",
             'path = "."  # this folder' + (f', or the Hub id "{f.repo}"' if f.repo else ""),
             "tok = AutoTokenizer.from_pretrained(path)",
             "model = AutoModelForCausalLM.from_pretrained(path, dtype=\"auto\")" +
             ("  # needs gptqmodel (pip install gptqmodel)" if quantized else "")]
    if f.chat:
        lines += ["", f"messages = [{{\"role\": \"user\", \"content\": {json.dumps(SAMPLE_CHAT)}}}]",
                  "inputs = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\", "
                  "return_dict=True)",
                  "out = model.generate(**inputs, max_new_tokens=32, do_sample=False)",
                  "print(\"chat:\", tok.decode(out[0, inputs[\"input_ids\"].shape[1]:], skip_special_tokens=True))"]
    if f.dialect is not None:
        stops = ", ".join(json.dumps(t) for t in f.dialect.stop)
        lines += ["", "# fill-in-the-middle: the prompt's special tokens are written out; no BOS is added",
                  *_fim_lines(f.dialect),
                  "ids = tok(prompt, add_special_tokens=False, return_tensors=\"pt\").input_ids",
                  f"stop = [i for t in ({stops},) if (i := tok.convert_tokens_to_ids(t)) is not None]",
                  "out = model.generate(ids, max_new_tokens=32, do_sample=False, eos_token_id=stop)",
                  "print(\"middle:\", tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).split(\"\\n\")[0])"]
    return fence("python", "transformers", "\n".join(lines))


def onnx_snippet(f: BuildFacts) -> str:
    lines = ["import json", "", "import onnxruntime_genai as og", "",
             'model = og.Model(".")  # this folder', "tok = og.Tokenizer(model)",
             'tok.update_options(add_special_tokens="false")  # prompts below carry their own special tokens', "",
             "def generate(prompt, n=32):",
             "    ids = tok.encode(prompt)",
             "    params = og.GeneratorParams(model)",
             "    params.set_search_options(max_length=len(ids) + n, do_sample=False)",
             "    gen = og.Generator(model, params)",
             "    gen.append_tokens(ids)",
             "    while not gen.is_done():",
             "        gen.generate_next_token()",
             "    return tok.decode(gen.get_sequence(0)[len(ids):])"]
    if f.chat:
        lines += ["", f"messages = [{{\"role\": \"user\", \"content\": {json.dumps(SAMPLE_CHAT)}}}]",
                  "print(\"chat:\", generate(tok.apply_chat_template(json.dumps(messages), add_generation_prompt=True)))"]
    if f.dialect is not None:
        lines += ["", "# fill-in-the-middle", *_fim_lines(f.dialect),
                  "middle = generate(prompt).split(\"\\n\")[0]",
                  *[f"middle = middle.split({json.dumps(t)})[0]" for t in f.dialect.stop],
                  "print(\"middle:\", middle)"]
    return fence("python", "onnxruntime-genai", "\n".join(lines))


_HTTP_HELPER = [
    "import json", "import os", "import urllib.request", "",
    'URL = os.environ.get("LLAMA_SERVER", "http://127.0.0.1:8080")', "",
    "def post(path, body):",
    "    req = urllib.request.Request(URL + path, json.dumps(body).encode(), {\"Content-Type\": \"application/json\"})",
    "    with urllib.request.urlopen(req, timeout=300) as r:",
    "        return json.load(r)"]


def llama_server_snippets(f: BuildFacts) -> dict[str, str]:
    """The server command, a chat request and (with FIM tokens) a FIM request, as fenced snippets by name."""
    out = {"llama-server": fence("bash", "llama-server",
                                 f'llama-server -m {f.gguf} --host 127.0.0.1 --port "${{PORT:-8080}}" -c 4096')}
    if f.chat:
        out["chat-http"] = fence("python", "chat-http", "\n".join([
            *_HTTP_HELPER, "",
            f"messages = [{{\"role\": \"user\", \"content\": {json.dumps(SAMPLE_CHAT)}}}]",
            "reply = post(\"/v1/chat/completions\", {\"messages\": messages, \"max_tokens\": 32, \"temperature\": 0})",
            "print(\"chat:\", reply[\"choices\"][0][\"message\"][\"content\"])"]))
    if f.dialect is not None:
        out["fim-http"] = fence("python", "fim-http", "\n".join([
            *_HTTP_HELPER, "", *_fim_lines(f.dialect),
            "# /tokenize without add_special: a text prompt to /completion would get a BOS put in front",
            "ids = post(\"/tokenize\", {\"content\": prompt, \"add_special\": False, \"parse_special\": True})[\"tokens\"]",
            "out = post(\"/completion\", {\"prompt\": ids, \"n_predict\": 48, \"temperature\": 0, \"top_k\": 1, "
            "\"stop\": [\"\\n\"], \"cache_prompt\": False})",
            "print(\"middle:\", out[\"content\"])"]))
    return out


def modelfile(f: BuildFacts, *, stop: tuple[str, ...] = ()) -> str:
    """An Ollama Modelfile: FROM the GGUF, and a TEMPLATE that writes the model's FIM prompt from Ollama's
    ``.Prompt`` (the prefix) and ``.Suffix``, and (Llama 3 header chat templates) the chat turns from ``.Messages``."""
    lines = [f"FROM ./{f.gguf}"]
    body: list[str] = []
    if f.dialect is not None:
        fim = f.dialect.template("psm").replace(PREFIX, "{{ .Prompt }}").replace(SUFFIX, "{{ .Suffix }}")
        body.append("{{- if .Suffix }}" + fim + "{{- else }}")
    if f.llama3_chat:
        # no <|begin_of_text|>: Ollama's runner puts the BOS in front itself when the GGUF asks for one
        body.append("{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
                    "{{ .Content }}<|eot_id|>{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n")
    else:
        body.append("{{ .Prompt }}")
    if f.dialect is not None:
        body.append("{{ end }}")  # no "-": it would trim the chat branch's closing newlines
    lines.append('TEMPLATE """' + "".join(body) + '"""')
    stops = list(dict.fromkeys([*(f.dialect.stop if f.dialect else ()), *stop]))
    lines += [f"PARAMETER stop {json.dumps(s)}" for s in stops]
    return "\n".join(lines) + "\n"
