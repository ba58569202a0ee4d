"""One progress shape for all long work: ``progress(message, done, total)``.

The converters (GGUF export, ONNX export, GPTQ/AWQ quantization), the formats' build verbs, the reference and the
evaluation all report through it, so whatever shows progress (a terminal bar, a log, a Ray task's lines to the driver)
is written once against one callback. ``done``/``total`` count the current piece of work; ``total`` 0 means not
known yet. A new count (``done`` going back, or another ``total``) starts a new stage, which is how a shower knows
when to restart its clock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

__all__ = ["Progress", "Advance", "no_progress", "no_advance", "counter", "prefixed", "LogLines", "eta_suffix", "hms"]

Progress = Callable[[str, int, int], None]
# Within one counted stage: advance(n) or advance(n, note), what ``counter`` returns to the code doing the work.
Advance = Callable[..., None]

# A counted stage is reported at most this many times (and at its end): enough for a smooth bar, few lines in a log.
STEPS_PER_STAGE = 20
NOTE_EVERY_S = 10.0  # a stage whose count stands still still shows its note (e.g. tokens/s) this often
_COUNT = re.compile(r"\b\d+/\d+\b")


def no_progress(_message: str, _done: int, _total: int) -> None:
    return None


def no_advance(_n: int, _note: str = "") -> None:
    return None


def counter(progress: Progress, description: str, total: int) -> Advance:
    """``advance(n, note="")`` over one counted stage of ``total`` units, reported as ``description`` (with the note,
    e.g. the generation rate, after a ``·``) every twentieth of the stage, at its end, and, when only the note moves
    (tokens of a long batch coming in), at most every ``NOTE_EVERY_S`` seconds."""
    done, shown, when = [0], [0], [time.monotonic()]  # the start is reported as step 0

    def advance(n: int, note: str = "") -> None:
        done[0] += n
        step = done[0] * STEPS_PER_STAGE // max(total, 1)
        now = time.monotonic()
        if step != shown[0] or done[0] >= total or (note and now - when[0] >= NOTE_EVERY_S):
            shown[0], when[0] = step, now
            progress(f"{description} · {note}" if note else description, done[0], total)
    progress(description, 0, total)
    return advance


def prefixed(progress: Progress, prefix: str) -> Progress:
    """``progress`` with ``prefix`` before every message (a run names the build each report is about)."""
    return lambda message, done, total: progress(f"{prefix}{message}", done, total)


class LogLines:
    """A ``Progress`` that writes lines (to a log, or to a Ray run's driver): each new message once, with the time
    left once a stage has counted some units."""

    def __init__(self, emit: Callable[[str], None], prefix: str = "") -> None:
        self.emit, self.prefix = emit, prefix
        self.last: tuple[str, int, int] | None = None
        self.start = time.monotonic()

    def __call__(self, message: str, done: int, total: int) -> None:
        last = self.last
        if last is not None and (message, done, total) == last:
            return
        if last is None or total != last[2] or done < last[1]:
            self.start = time.monotonic()  # a new stage
        self.last = (message, done, total)
        if _COUNT.search(message):  # an engine's own count within the stage (with its own time left) speaks for itself
            self.emit(f"{self.prefix}{message}")
        else:
            counts = f" {done}/{total}" if total else ""
            self.emit(f"{self.prefix}{message}{counts}{eta_suffix(self.start, done, total)}")


def eta_suffix(start: float, done: int, total: int) -> str:
    """`` · 1:23 elapsed, ETA 4:56`` for a log line (a terminal's bars show the same)."""
    if done <= 0 or total <= 0 or done >= total:
        return ""
    elapsed = time.monotonic() - start
    left = elapsed / done * (total - done)
    return f" · {hms(elapsed)} elapsed, ETA {hms(left)}"


def hms(seconds: float) -> str:
    """``1:23`` or ``1:02:03``."""
    m, s = divmod(int(seconds + 0.5), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"
