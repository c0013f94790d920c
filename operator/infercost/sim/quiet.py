"""Quiet workers for the benches: file descriptor 1 sent to /dev/null for a while.

HiGHS (scipy's MILP solver, under the oracles) prints a debug line from C on some programs;
a bench's workers print nothing else, so their stdout would only put that line inside the
table the bench prints.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Descriptor 1 to /dev/null inside the block (what C writes too), restored after."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
