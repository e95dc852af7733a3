"""SIGINT and SIGTERM as requests: training finishes the step it is in, writes a checkpoint, then stops.

Clusters pre-empt jobs with SIGTERM (SLURM, Kubernetes) and users press Ctrl-C; either way the run
resumes with `--resume` and reproduces the uninterrupted run.
"""

import signal
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """`signum` of the first signal received, or None."""
    signum: int | None = None

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum


@contextmanager
def stop_requests():
    """Within the block, SIGINT/SIGTERM set `request.signum` instead of killing the process (main thread
    only; elsewhere signals keep their handlers). Previous handlers are restored on exit."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.signal(s, request._handle) for s in SIGNALS}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
