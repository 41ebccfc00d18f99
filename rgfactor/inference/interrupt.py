"""Ctrl-C that always stops a fit, at a safe point.

Python delivers SIGINT as a KeyboardInterrupt wherever the interpreter happens to be, which during
a JAX fit is often inside a garbage-collection callback of XLA buffers: there the exception is printed
as "Exception ignored in ..." and lost, and the fit carries on. Inside :func:`interruptible` the first
Ctrl-C only sets a flag, which the engines poll between sweeps and optimisation chunks
(:func:`check`), raising KeyboardInterrupt there; a second Ctrl-C raises at once. Outside the main
thread (where signal handlers cannot be installed) nothing changes.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

_state = {"requested": False, "depth": 0}


def _handler(signum, frame):
    if _state["requested"]:
        raise KeyboardInterrupt
    _state["requested"] = True


@contextmanager
def interruptible():
    """Install the polling SIGINT handler for the duration of a fit (re-entrant)."""
    if threading.current_thread() is not threading.main_thread() or _state["depth"]:
        _state["depth"] += 1
        try:
            yield
        finally:
            _state["depth"] -= 1
        return
    previous = signal.getsignal(signal.SIGINT)
    _state.update(requested=False, depth=1)
    signal.signal(signal.SIGINT, _handler)
    try:
        yield
        check()
    finally:
        signal.signal(signal.SIGINT, previous)
        _state.update(requested=False, depth=0)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed since the fit started."""
    if _state["requested"]:
        _state["requested"] = False
        raise KeyboardInterrupt
