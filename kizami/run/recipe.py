"""Run recipes (TOML), parsed at load into frozen typed configs and validated whole before any model loads.

Allowed keys come from the config classes' fields, values are type-checked and then checked by the configs
themselves; an error names the table, the key, the value and what is allowed. Every build gets a name derived from
its non-default fields (``kizami.builders.build_names``); two builds of one name are an error.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kizami.builders import Builder, build_names, get_builder
from kizami.calib_data.build import CalibConfig
from kizami.core.errors import KizamiError
from kizami.core.tomlread import read_toml
from kizami.formats import formats, get_format
from kizami.run.gates import Gates

__all__ = ["RecipeError", "BuildStep", "BundleOptions", "RunOptions", "RunRecipe", "parse_table", "load_run_recipe",
           "builtin_run_recipe", "eval_settings", "parse_sets", "cli_value", "to_toml"]

log = logging.getLogger(__name__)


class RecipeError(KizamiError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildStep:
    format: str
    config: Any  # the format's config class
    name: str  # the step's folder under OUT/builds
    builds: Mapping[str, str]  # build name → output stem (a key of the format's ``build`` result)
    table: Mapping[str, Any]  # the [[build]] table as written, for writing the recipe back


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleOptions:
    enabled: bool = True
    base_model: str = ""  # the upstream repo id for the model card
    license: str = ""
    repo: str = ""  # where the bundle will be uploaded (its name in snippets)
    tar: bool = False
    version: int = 1


EXECUTORS = ("serial", "ray")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """``[run]``: where the steps run. ``serial`` (the default) runs them one after another in this process; ``ray``
    submits them as tasks to the Ray cluster at ``address`` (``kizami run --ray ADDRESS`` chooses the same)."""

    executor: str = "serial"
    address: str = "auto"  # ray.init's address: "auto" (the cluster this machine belongs to) or HOST:PORT
    max_retries: int = 2  # how often Ray re-runs a step whose worker or node died
    cpus: int = 0  # CPUs each task asks for; 0: the step's own `threads`, else 1
    version: int = 1

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor {self.executor!r} is not one of {', '.join(EXECUTORS)}")
        if self.max_retries < 0 or self.cpus < 0:
            raise ValueError("max_retries and cpus must be 0 or more")
        if not self.address:
            raise ValueError('address must be "auto" or HOST:PORT of the cluster\'s head')


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecipe:
    name: str
    model: str
    out: str
    calib_recipe: str = "default"  # the mixture: built-in, or a .toml (relative to the recipe file)
    calib: CalibConfig = field(default_factory=CalibConfig)  # the set's size (the defaults when there is no [calib])
    builds: tuple[BuildStep, ...] = ()
    eval: Any = None  # kizami.runtime.evaluate.EvalSettings
    gates: Gates = field(default_factory=Gates)
    bundle: BundleOptions = field(default_factory=BundleOptions)
    run: RunOptions = field(default_factory=RunOptions)
    base_dir: str = "."
    raw: Mapping[str, Any] = field(default_factory=dict)  # the TOML as read, for `to_toml`

    def path(self, value: str) -> Path:
        """A path written in the recipe, relative to the recipe's folder."""
        return Path(value) if Path(value).is_absolute() else Path(self.base_dir) / value

    def build_names(self) -> list[str]:
        return [n for step in self.builds for n in step.builds]


_TOP = {"name", "model", "out", "calib", "build", "eval", "gates", "bundle", "run"}


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return f"a list of {_type_name(typing.get_args(hint)[0])}"
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args:
        return " or ".join(_type_name(a) for a in args)
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` as the field type ``hint`` (TOML lists → tuples, integers → floats); raises TypeError."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except TypeError:
                continue
        raise TypeError
    if origin in (tuple, list):  # a single value is a list of one: budget = 4.5
        return tuple(_coerce(v, typing.get_args(hint)[0]) for v in (value if isinstance(value, list) else [value]))
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    return value


def parse_table(cls: type, table: Any, where: str, *, exclude: tuple[str, ...] = ("version",),
                extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check a TOML table against ``cls``'s fields: unknown keys and wrong types are errors. Returns the keyword
    arguments for ``cls`` (keys in ``extra`` are allowed and passed through for the caller)."""
    if not isinstance(table, dict):
        raise RecipeError(f"{where} must be a table")
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls) if f.name not in exclude and f.init]
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key in extra:
            kwargs[key] = value
            continue
        if key not in allowed:
            raise RecipeError(f"{where}: unknown key {key!r}; allowed: {', '.join(sorted([*allowed, *extra]))}")
        try:
            kwargs[key] = _coerce(value, hints[key])
        except TypeError:
            raise RecipeError(f"{where}: {key} = {value!r} must be {_type_name(hints[key])}") from None
    return kwargs


def _make(cls: type, kwargs: dict[str, Any], where: str) -> Any:
    try:
        return cls(**kwargs)
    except (KizamiError, ValueError, TypeError) as exc:
        raise RecipeError(f"{where}: {exc}") from None


def _build_steps(fmt: Builder, table: dict[str, Any], where: str) -> list[BuildStep]:
    body = {k: v for k, v in table.items() if k not in ("format", "name")}
    if "budget" in body and (fixed := [k for k in fmt.fixed_type_keys if k in body]):
        raise RecipeError(f"{where}: a build with a budget chooses each tensor's type itself; remove {fixed[0]} = "
                          f"{body[fixed[0]]!r} or the budget (two [[build]] tables can make both)")
    plural = [k for k in fmt.plural_keys if k in body]
    variants: list[dict[str, Any]] = [body]
    if plural:  # e.g. onnx precisions = ["int4", "int8"]: one build per item
        key = plural[0]
        values = body.pop(key)
        if not isinstance(values, list) or not values:
            raise RecipeError(f"{where}: {key} must be a non-empty list")
        variants = [{**body, fmt.plural_keys[key]: v} for v in values]
    steps = []
    for variant in variants:
        cfg = _make(fmt.config, parse_table(fmt.config, variant, where, exclude=fmt.recipe_exclude), where)
        step_name, names = build_names(fmt, cfg)
        step_name = table.get("name") or step_name
        if not isinstance(step_name, str) or not step_name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise RecipeError(f"{where}: name {step_name!r} must be letters, digits, '-', '_' or '.'")
        if table.get("name"):  # a chosen name: the builds are named after it
            names = {(step_name if len(names) == 1 else f"{step_name}-{stem}"): stem for stem in names.values()}
        steps.append(BuildStep(format=fmt.name, config=cfg, name=step_name, builds=names, table=table))
    return steps


def builtin_run_recipe() -> Path:
    return Path(str(resources.files("kizami") / "recipes" / "tiny-fcj.toml"))


def _legacy_keys() -> dict[str, list[tuple[str, str]]]:
    """Flat ``[eval]`` keys of older recipes -> the (metric, key) of the ``[eval.<metric>]`` tables they now are."""
    from kizami.runtime.metrics import metrics

    out: dict[str, list[tuple[str, str]]] = {}
    for name in metrics.names():
        for old, new in metrics.get(name).legacy.items():
            out.setdefault(old, []).append((name, new))
    return out


def eval_settings(table: Any, origin: str, base: Path, *, quiet: bool = False) -> Any:
    """``[eval]`` and its ``[eval.<metric>]`` tables as ``EvalSettings``, checked whole: unknown keys, wrong types and
    bad values are one-line errors naming the table; each metric checks its own settings (e.g. a problem file) and
    resolves its paths against ``base``. A flat key of an older recipe (``problems_limit``) is read as the metric's
    key it became, with a deprecation line in the log (none when ``quiet``: the CLI's shortcut options)."""
    from kizami.runtime.evaluate import DEFAULT_METRICS, EvalSettings
    from kizami.runtime.metrics import metrics, task_names

    where = f"{origin}: [eval]"
    if not isinstance(table, dict):
        raise RecipeError(f"{where} must be a table")
    legacy = _legacy_keys()
    shared = [f.name for f in dataclasses.fields(EvalSettings) if f.name not in ("version", "per_metric", "fim_modes", "top_k")]
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    flat = {k: v for k, v in table.items() if k in legacy and k not in tables}
    own = {n: {f.name for f in dataclasses.fields(cls)} for n in sorted(metrics.names())
           if (cls := metrics.get(n).config_class) is not None}  # each metric with settings -> its keys
    with_settings = list(own)
    for key in table:
        if key not in tables and key not in flat and key not in shared:
            owners = [n for n, keys in own.items() if key in keys]
            close = difflib.get_close_matches(key, [*shared, *legacy], n=1)
            hint = (f"; it is a metric's own setting: write it in {' or '.join(f'[eval.{n}]' for n in owners)}" if owners
                    else f"; did you mean {close[0]!r}?" if close else "")
            raise RecipeError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(sorted(shared))}, and a table "
                              f"[eval.<metric>] of a metric's own settings ({', '.join(with_settings)})")
    kwargs = parse_table(EvalSettings, {k: v for k, v in table.items() if k in shared}, where,
                         exclude=("version", "per_metric", "fim_modes", "top_k"))
    if kwargs.get("fim_file"):  # relative to the recipe, checked (and read) before any build starts
        from kizami.calib_data.fim import read_tasks

        path = Path(kwargs["fim_file"]) if Path(kwargs["fim_file"]).is_absolute() else base / kwargs["fim_file"]
        if not path.is_file():
            raise RecipeError(f"{where}: fim_file {path} not found; give a SantaCoder-FIM JSONL file or remove the key")
        read_tasks(path)
        kwargs["fim_file"] = str(path)
    run = kwargs.get("metrics", DEFAULT_METRICS)
    for name in run:
        try:
            metrics.get(name)
        except KizamiError as exc:
            raise RecipeError(f"{where}: {exc}") from None
    names = task_names()
    raw: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():  # an older recipe's flat key: each metric run that took it over reads it
        targets = legacy[key]
        if not quiet:
            named = [(n, new) for n, new in targets if n in run] or targets
            log.warning("%s: %s is deprecated; write it as %s (read as that now)", where, key,
                        " and ".join(f"[eval.{n}] {new}" for n, new in named))
        for name, new in targets:
            if name in run:
                raw.setdefault(name, {})[new] = value
    for key, sub in tables.items():
        if key not in names:
            close = difflib.get_close_matches(key, list(names), n=1)
            raise RecipeError(f"{origin}: [eval.{key}]: no metric {key!r}." + (f" Did you mean {close[0]!r}?" if close else "")
                              + f" Metrics with settings: {', '.join(with_settings)}")
        name = names[key]
        if metrics.get(name).config_class is None:
            raise RecipeError(f"{origin}: [eval.{key}]: metric {name!r} has no settings; metrics with settings: "
                              f"{', '.join(with_settings)}")
        if name not in run:
            raise RecipeError(f"{origin}: [eval.{key}] sets a metric that [eval] metrics does not run; add {name!r} to "
                              "metrics or remove the table")
        raw[name] = {**raw.get(name, {}), **sub}
    per_metric = {}
    for name in run:
        metric = metrics.get(name)
        if metric.config_class is None:
            continue
        sub_where = f"{origin}: [eval.{name}]"
        config = _make(metric.config_class, parse_table(metric.config_class, raw.get(name, {}), sub_where), sub_where)
        try:
            per_metric[name] = metric.check(config, base)
        except KizamiError as exc:
            raise RecipeError(f"{sub_where}: {exc}") from None
    if "metrics" in kwargs:
        kwargs["metrics"] = tuple(kwargs["metrics"])
    return _make(EvalSettings, {**kwargs, "per_metric": per_metric}, where)


def cli_value(text: str) -> Any:
    """A ``--set`` value as TOML reads it (``8``, ``true``, ``[1024, 2048]``), else a comma list, else the text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if "," in text:
            return [cli_value(t.strip()) for t in text.split(",") if t.strip()]
        return text


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--set METRIC.KEY=VALUE`` options as ``[eval.<metric>]`` tables."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        target, eq, text = item.partition("=")
        metric, dot, key = target.strip().partition(".")
        if not eq or not dot or not metric or not key:
            raise RecipeError(f"--set {item!r}: write METRIC.KEY=VALUE, e.g. --set humaneval.samples=10")
        out.setdefault(metric, {})[key] = cli_value(text.strip())
    return out


def _gates(table: Any, where: str) -> Gates:
    """The [gates] table: the limits of the gates the registered metrics declare."""
    if not isinstance(table, dict):
        raise RecipeError(f"{where} must be a table")
    gates: Gates = _make(Gates, {"limits": dict(table)}, where)  # Gates checks each key and limit
    return gates


def load_run_recipe(path: Path) -> RunRecipe:
    """Load and validate the whole recipe before anything runs; unknown keys and bad values are errors."""
    path = Path(path)
    data = read_toml(path, _TOP, RecipeError, "recipe", "`kizami init` writes an example")
    for key in ("name", "model", "out"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise RecipeError(f"{path}: '{key}' must be a non-empty string")
    tables = data.get("build", [])
    buildable = [n for n in formats.names() if get_format(n).buildable]
    if not isinstance(tables, list) or not tables:
        raise RecipeError(f"{path}: add at least one [[build]] table (format = one of {', '.join(buildable)})")
    steps: list[BuildStep] = []
    for i, table in enumerate(tables):
        where = f"{path}: build #{i + 1}"
        fmt_name = str(table.get("format")) if isinstance(table, dict) else ""
        if fmt_name not in buildable and fmt_name not in formats:
            close = difflib.get_close_matches(fmt_name, buildable, n=1)
            raise RecipeError(f"{where}: format {fmt_name!r} is not one of {', '.join(buildable)}"
                              + (f"; did you mean {close[0]!r}?" if close else ""))
        if not get_format(fmt_name).buildable:
            raise RecipeError(f"{where}: format {fmt_name!r} is a source format, not something kizami builds; the bf16 "
                              "model is always measured")
        fmt = get_builder(fmt_name)
        where = f"{where} ({fmt.name})"
        for step in _build_steps(fmt, table, where):
            if fmt.needs_calibration(step.config) and "calib" not in data:
                raise RecipeError(f"{where} learns from calibration data; add a [calib] table"
                                  + (" or set imatrix = \"none\"" if fmt.name == "gguf" else ""))
            steps.append(step)
    seen: dict[str, int] = {}
    for i, step in enumerate(steps):
        for name in {step.name, *step.builds}:
            if seen.setdefault(name, i) != i:
                raise RecipeError(f"{path}: two [[build]] tables make a build named {name!r}; they would overwrite "
                                  "each other. Give one of them `name = \"...\"` or change its settings")
    kwargs = parse_table(CalibConfig, data.get("calib", {}), f"{path}: [calib]", extra=("recipe",))
    calib_recipe = str(kwargs.pop("recipe", "default"))
    if calib_recipe != "default" and not (path.parent / calib_recipe).is_file() and not Path(calib_recipe).is_file():
        raise RecipeError(f"{path}: [calib] recipe {calib_recipe!r} not found; use \"default\" or a mixture .toml")
    calib = _make(CalibConfig, kwargs, f"{path}: [calib]")
    gates = _gates(data.get("gates", {}), f"{path}: [gates]")
    bundle = _make(BundleOptions, parse_table(BundleOptions, data.get("bundle", {}), f"{path}: [bundle]"),
                   f"{path}: [bundle]")
    run = _make(RunOptions, parse_table(RunOptions, data.get("run", {}), f"{path}: [run]"), f"{path}: [run]")
    return RunRecipe(name=data["name"], model=data["model"], out=data["out"], calib_recipe=calib_recipe, calib=calib,
                     builds=tuple(steps), eval=eval_settings(data.get("eval", {}), str(path), path.parent),
                     gates=gates, bundle=bundle, run=run, base_dir=str(path.parent), raw=data)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise RecipeError(f"cannot write {type(v).__name__} to TOML")


def to_toml(recipe: RunRecipe) -> str:
    """The recipe as TOML; ``load_run_recipe`` of it gives an equal recipe."""
    lines = [f"{k} = {_toml_value(recipe.raw[k])}" for k in ("name", "model", "out")]
    for table in ("calib", "eval", "gates", "bundle", "run"):
        if table in recipe.raw:
            items = recipe.raw[table].items()
            lines += ["", f"[{table}]", *(f"{k} = {_toml_value(v)}" for k, v in items if not isinstance(v, dict))]
            for sub, values in ((k, v) for k, v in items if isinstance(v, dict)):  # [eval.<metric>]
                lines += ["", f"[{table}.{sub}]", *(f"{k} = {_toml_value(v)}" for k, v in values.items())]
    for build in recipe.raw.get("build", []):
        lines += ["", "[[build]]", *(f"{k} = {_toml_value(v)}" for k, v in build.items())]
    return "\n".join(lines) + "\n"
