"""lm-evaluation-harness on any kizami build: an ``lm_eval`` model class backed by kizami's Backend protocol.

``KizamiLM`` answers lm-eval's three requests (``loglikelihood``, ``loglikelihood_rolling``, ``generate_until``)
with ``Backend.score`` and ``Backend.generate``, so every lm-eval task runs on bf16, GPTQ, AWQ, GGUF and ONNX builds
alike, each through its own engine and its own tokenizer. Registered in lm-eval as ``kizami`` once this module is
imported; ``kizami lm-eval BUILD --tasks ...`` (``kizami.cli.lm_eval``) does that and runs lm-eval.

Scoring matches kizami's own: a text is scored as ``[BOS] + tokens`` (Llama 3 models are trained with a BOS; lm-eval's
Hugging Face class leaves it out unless ``add_bos_token`` is set), and a loglikelihood is the sum of the backend's
``TokenScores.target`` over the continuation's tokens. Texts longer than ``max_length`` are scored in lm-eval's own
disjoint rolling windows (``loglikelihood_rolling``) or cut from the left (``loglikelihood``).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kizami.core.errors import BackendUnavailable, KizamiError

if TYPE_CHECKING:
    from kizami.runtime.backend import Backend

__all__ = ["KizamiLM", "MODEL_NAME", "load_lm_eval", "run_tasks"]

log = logging.getLogger(__name__)

MODEL_NAME = "kizami"
KizamiLM: type  # made on first access (module __getattr__ below): importing kizami.runtime.lm_eval needs no lm-eval
_BOS = ("<|begin_of_text|>", "<s>", "<|endoftext|>")
_CHUNK = 64  # requests per backend call (the backend batches within it)


def load_lm_eval() -> Any:
    """Import lm-eval (its deprecation notes are third-party noise: kept out of kizami's output)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import lm_eval
            import lm_eval.api.model  # noqa: F401
            import lm_eval.api.registry  # noqa: F401
            import lm_eval.utils  # noqa: F401
    except ImportError:
        raise BackendUnavailable("lm-eval is not installed; `pip install lm-eval==0.4.13` (kizami's test extra has it)") from None
    for name in ("lm_eval", "lm-eval"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return lm_eval


def _lm_base() -> type:
    base: type = load_lm_eval().api.model.LM
    return base


class _KizamiLM:
    """The implementation; ``KizamiLM`` (below) is this mixed with lm-eval's ``LM`` once lm-eval is importable."""

    def __init__(self, pretrained: str | Path | None = None, *, backend: Backend | None = None, device: str = "cpu",
                 threads: int | None = None, engine: str | None = None, max_length: int = 2048, add_bos: bool = True,
                 max_gen_toks: int = 256, batch_size: int | str = 0, **_ignored: Any) -> None:
        super().__init__()
        if backend is None:
            if pretrained is None:
                raise KizamiError("KizamiLM needs a build: model_args='pretrained=PATH' (a kizami build or HF folder)")
            from kizami.runtime import open_build

            # lm-eval's "auto" batch size is kizami's automatic one (0: as many as fit)
            batch = int(batch_size) if str(batch_size).isdigit() else 0
            backend = open_build(Path(pretrained), device=device, threads=int(threads) if threads else None,
                                 backend=engine, **({"batch_size": batch} if batch else {}))
        self.backend = backend
        self.max_length = int(max_length)
        self.max_gen_toks = int(max_gen_toks)
        self.add_bos = add_bos if isinstance(add_bos, bool) else str(add_bos).lower() in ("1", "true", "yes")
        bos = next((i for t in _BOS if (i := backend.token_id(t)) is not None), None)
        if bos is None and self.add_bos:
            raise KizamiError(f"the {backend.name} backend's vocabulary has no BOS token ({', '.join(_BOS)}); "
                              "pass add_bos=False")
        self.bos = bos

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict[str, Any] | None = None) -> Any:
        args: dict[str, Any] = dict(kv.split("=", 1) for kv in arg_string.split(",") if kv)
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None and k in ("device", "batch_size")}
        return cls(**args, **extra)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        return list(self.backend.tokenize([text])[0]) if text else []

    def _prefix(self) -> list[int]:
        return [self.bos] if self.add_bos and self.bos is not None else []

    def _pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation ids as lm-eval splits them: spaces at the context's end go to the continuation,
        and the continuation's ids are the tail of the whole text's ids (merges across the seam are kept)."""
        n_space = len(context) - len(context.rstrip())
        if n_space:
            continuation, context = context[-n_space:] + continuation, context[:-n_space]
        whole = self._encode(context + continuation)
        ctx = self._encode(context)
        return self._prefix() + whole[:len(ctx)], whole[len(ctx):]

    def _logprobs(self, pairs: Sequence[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """Sum of the continuation's log-probs and whether it is the greedy continuation, for each (context,
        continuation); the windows go to the backend in batches."""
        windows = []
        for context, continuation in pairs:
            ids = (context + continuation)[-(self.max_length + 1):]
            if continuation and len(ids) < 2:
                raise KizamiError("a loglikelihood needs a context token: use add_bos=True or give a context")
            windows.append(ids)
        scored = [i for i, (_ctx, cont) in enumerate(pairs) if cont]
        out = [(0.0, True)] * len(pairs)
        for at in range(0, len(scored), _CHUNK):
            chunk = scored[at:at + _CHUNK]
            for i, scores in zip(chunk, self.backend.score_batch([windows[i] for i in chunk])):
                n = len(pairs[i][1])
                target, argmax = scores.target[-n:], scores.argmax[-n:]
                out[i] = (float(target.astype("float64").sum()), bool((argmax == windows[i][-n:]).all()))
        return out

    # -- lm-eval's three requests -------------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        pairs = []
        for req in requests:
            context, continuation = req.args[0], req.args[1]
            pairs.append(self._pair(context, continuation) if context else (self._prefix(), self._encode(continuation)))
        return self._logprobs(pairs)

    def loglikelihood_rolling(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[float]:
        utils = load_lm_eval().utils
        out = []
        for req in requests:
            ids = self._encode(req.args[0])
            prefix = self.bos if self.add_bos and self.bos is not None else (ids[0] if ids else 0)
            if not (self.add_bos and self.bos is not None):
                ids = ids[1:]  # the first token has nothing to condition on
            windows = [utils.make_disjoint_window(w) for w in utils.get_rolling_token_windows(
                ids, prefix_token=prefix, max_seq_len=self.max_length, context_len=1)]
            out.append(sum(lp for lp, _greedy in self._logprobs([(list(c), list(t)) for c, t in windows])))
        return out

    def generate_until(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[str]:
        from kizami.runtime.backend import GenRequest

        gens = []
        for req in requests:
            context, kwargs = req.args[0], dict(req.args[1] or {})
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            sampled = bool(kwargs.get("do_sample")) and float(kwargs.get("temperature", 0.0)) > 0
            prompt = (self._prefix() + self._encode(context))[-self.max_length:]
            gen = GenRequest(prompt=prompt, max_new_tokens=int(kwargs.get("max_gen_toks", self.max_gen_toks)),
                             stop_strings=tuple(until), temperature=float(kwargs.get("temperature", 0.0)) if sampled else 0.0,
                             top_p=float(kwargs.get("top_p", 1.0)) if sampled else 1.0)
            gens.append(gen)
        return [g.text for at in range(0, len(gens), _CHUNK) for g in self.backend.generate(gens[at:at + _CHUNK])]


def _make_class() -> type:
    lm = load_lm_eval()
    cls = type("KizamiLM", (_KizamiLM, _lm_base()), {"__doc__": __doc__, "__module__": __name__})
    registry = lm.api.registry
    try:
        registry.register_model(MODEL_NAME)(cls)
    except (ValueError, AssertionError, KeyError):  # already registered (module reloaded)
        pass
    return cls


def __getattr__(name: str) -> Any:  # KizamiLM is made on first use, so importing kizami.runtime.lm_eval needs no lm-eval
    if name == "KizamiLM":
        cls = _make_class()
        globals()["KizamiLM"] = cls
        return cls
    raise AttributeError(name)


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """No progress bars from datasets and lm-eval's request building in kizami's output; restored afterwards."""
    import datasets
    import lm_eval.api.task as task_module

    enabled = datasets.utils.logging.is_progress_bar_enabled()
    bar = task_module.tqdm
    datasets.disable_progress_bars()
    task_module.tqdm = lambda it, **_kw: it  # its only bar: one per task, ~instant
    try:
        yield
    finally:
        task_module.tqdm = bar
        if enabled:
            datasets.enable_progress_bars()


def run_tasks(build: Path, tasks: Sequence[str], *, include_path: Path | None = None, limit: float | None = None,
              threads: int | None = None, device: str = "cpu", max_length: int = 2048, num_fewshot: int | None = None,
              backend: Backend | None = None, log_samples: bool = False) -> dict[str, Any]:
    """Run lm-eval ``tasks`` (names, or tasks defined in YAML files under ``include_path``) on ``build``."""
    lm = load_lm_eval()
    cls = __getattr__("KizamiLM")
    model = cls(pretrained=str(build), backend=backend, device=device, threads=threads, max_length=max_length)
    with warnings.catch_warnings(), _quiet_progress():
        warnings.simplefilter("ignore")
        from lm_eval.tasks import TaskManager

        manager = TaskManager(include_path=str(include_path) if include_path else None)
        results = lm.simple_evaluate(model=model, tasks=list(tasks), task_manager=manager, limit=limit,
                                     num_fewshot=num_fewshot, log_samples=log_samples, bootstrap_iters=0)
    if results is None:
        raise KizamiError("lm-eval returned no results")
    return dict(results)
