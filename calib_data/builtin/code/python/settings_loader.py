"""Typed settings loader: defaults < INI file < environment variables.

Each field of ``Settings`` may be overridden by an environment variable
named ``APP_<SECTION>_<FIELD>`` (upper case). Values are coerced to the
annotated type, and validation errors are collected so the operator sees
every problem at once instead of fixing them one by one.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))
        self.problems = problems


@dataclass
class DatabaseSettings:
    host: str = "localhost"
    port: int = 5432
    name: str = "app"
    pool_size: int = 5
    timeout_sec: float = 3.0


@dataclass
class ServerSettings:
    bind: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    debug: bool = False
    allowed_origins: list[str] = field(default_factory=list)


@dataclass
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    server: ServerSettings = field(default_factory=ServerSettings)


def _coerce(raw: str, typ: Any, where: str) -> Any:
    if typ is bool:
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"{where}: expected a boolean, got {raw!r}")
    if typ is int:
        return int(raw)
    if typ is float:
        return float(raw)
    if getattr(typ, "__origin__", None) is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def _apply(section_obj: Any, section: str, values: Mapping[str, str],
           source: str, problems: list[str]) -> None:
    hints = get_type_hints(type(section_obj))
    for key, raw in values.items():
        if key not in hints:
            problems.append(f"{source}: unknown key [{section}] {key}")
            continue
        try:
            setattr(section_obj, key, _coerce(raw, hints[key], f"[{section}] {key}"))
        except ValueError as exc:
            problems.append(f"{source}: {exc}")


def _validate(s: Settings, problems: list[str]) -> None:
    for name, port in (("database.port", s.database.port), ("server.port", s.server.port)):
        if not 0 < port < 65536:
            problems.append(f"{name} out of range: {port}")
    if s.database.pool_size < 1:
        problems.append("database.pool_size must be >= 1")
    if s.server.debug and s.server.bind not in ("127.0.0.1", "localhost"):
        problems.append("debug mode must not listen on a public interface")


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    settings = Settings()
    problems: list[str] = []
    sections: dict[str, Any] = {f.name: getattr(settings, f.name)
                                for f in dataclasses.fields(settings)}

    if path is not None and path.exists():
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        for sec in parser.sections():
            if sec not in sections:
                problems.append(f"{path.name}: unknown section [{sec}]")
                continue
            _apply(sections[sec], sec, dict(parser[sec]), path.name, problems)

    for sec, obj in sections.items():
        prefix = f"APP_{sec.upper()}_"
        overrides = {k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)}
        _apply(obj, sec, overrides, "environment", problems)

    _validate(settings, problems)
    if problems:
        raise SettingsError(problems)
    return settings


if __name__ == "__main__":
    demo_env = {"APP_SERVER_WORKERS": "4", "APP_SERVER_ALLOWED_ORIGINS": "a.test, b.test"}
    try:
        cfg = load(Path(sys.argv[1]) if len(sys.argv) > 1 else None, env=demo_env)
    except SettingsError as err:
        print(err, file=sys.stderr)
        sys.exit(1)
    print(dataclasses.asdict(cfg))
