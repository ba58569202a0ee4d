"""``REGEX=VALUE`` overrides by tensor or module name (GGUF tensor types, GPTQ module bits), parsed in one place.

Neutral ground: export/ and quantize/ both read these and may not import each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kizami.core.errors import KizamiError

__all__ = ["split_override"]


def split_override(spec: str, what: str, value_ok: Callable[[str], bool], expect: str) -> tuple[str, str]:
    """``"regex=value"`` → (regex, value), checked: a regex that compiles and a value ``value_ok`` accepts.
    ``what`` names the option in errors ("tensor type"), ``expect`` says what is allowed ("REGEX=TYPE with …")."""
    pattern, sep, value = spec.rpartition("=")
    if not sep or not pattern or not value_ok(value):
        raise KizamiError(f"{what} {spec!r} must be {expect}")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise KizamiError(f"{what} {spec!r}: {pattern!r} is not a regular expression ({exc})") from None
    return pattern, value
