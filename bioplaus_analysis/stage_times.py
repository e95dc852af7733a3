"""Where a command's time goes: wall seconds per named stage, printed as one line and recorded in the
command's own files (compare.json, results.json's provenance).

Stages nest: `with stage("embeddings")` inside `with stage("representations")` counts its seconds under
"embeddings" only, so the stages of one command add up to its total. Code deep inside an analysis calls
`stage(...)` without being handed a timer; outside an active `StageTimes` it costs nothing.
"""

import time
from contextlib import contextmanager
from contextvars import ContextVar

_ACTIVE: ContextVar["StageTimes | None"] = ContextVar("bioplaus_stage_times", default=None)


class StageTimes:
    """Exclusive wall seconds per stage, in the order the stages were first entered."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._open: list[list] = []  # [name, start, seconds of nested stages]
        self._start = time.perf_counter()

    @contextmanager
    def active(self):
        """Make this the timer that `stage()` records into, for the block."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    @contextmanager
    def stage(self, name: str):
        self.seconds.setdefault(name, 0.0)
        self._open.append([name, time.perf_counter(), 0.0])
        try:
            yield
        finally:
            _, start, nested = self._open.pop()
            took = time.perf_counter() - start
            self.seconds[name] += took - nested
            if self._open:
                self._open[-1][2] += took

    def total(self) -> float:
        return time.perf_counter() - self._start

    def record(self) -> dict:
        """{stage: seconds, ..., "total": seconds}, rounded to milliseconds (for JSON files)."""
        return {**{name: round(s, 3) for name, s in self.seconds.items()}, "total": round(self.total(), 3)}


@contextmanager
def stage(name: str):
    """Count the block's wall time under `name` in the active `StageTimes` (nothing when none is active)."""
    times = _ACTIVE.get()
    if times is None:
        yield
        return
    with times.stage(name):
        yield


def times_line(label: str, seconds: dict) -> str:
    """One line: "LABEL: stage 1.2 s, other 3.4 s; total 4.6 s" from a `record()`-shaped dict."""
    parts = [f"{name} {value:.1f} s" for name, value in seconds.items() if name != "total"]
    total = f"; total {seconds['total']:.1f} s" if "total" in seconds else ""
    return f"{label}: {', '.join(parts)}{total}"
