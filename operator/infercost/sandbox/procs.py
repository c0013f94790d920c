"""Child processes of the sandbox: each in its own process group, none outliving the sandbox.

Every child (tritonserver and its python-backend stubs, Prometheus, the operator, the load
generator) carries the environment variable `INFERCOST_SANDBOX_RUN=<run dir>`, so what a run
started can be found by a scan of /proc (`leftovers`) without psutil, and is started in a
new session so one `killpg` ends it with all its own children. The kernel's parent-death
signal (prctl PR_SET_PDEATHSIG) ends a child if the sandbox itself is killed with SIGKILL,
where no handler of ours runs. `Children.stop_all` (called from `finally`, atexit and the
signal handlers) terminates the groups, waits, then kills what is left.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

MARKER = "INFERCOST_SANDBOX_RUN"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. The signal fires when the *thread* that forked
    # exits, so children are only ever started from the main thread (the event loop's).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Children:
    """The process groups started by one sandbox run."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env[MARKER] = str(self.run_dir)
        env.update(extra or {})
        return env

    def start(
        self,
        name: str,
        command: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `command` in a new session, output to `log`; `name` identifies it here."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(env),
                start_new_session=True,
                preexec_fn=_die_with_parent,  # only prctl: safe between fork and exec
            )
        self.procs[name] = process
        return process

    def stop(self, name: str, *, grace: float = 10.0) -> None:
        process = self.procs.pop(name, None)
        if process is not None:
            _end_group(process, grace=grace)

    def stop_all(self, *, grace: float = 10.0) -> None:
        """SIGTERM to every group, then SIGKILL to those still there after `grace` seconds."""
        procs, self.procs = list(self.procs.values()), {}
        for process in procs:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        for process in procs:
            _signal_group(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        for pid in leftovers(self.run_dir):  # e.g. a stub whose server died first
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _end_group(process: subprocess.Popen[bytes], *, grace: float) -> None:
    _signal_group(process, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    _signal_group(process, signal.SIGKILL)  # the group's other members (stubs) too
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def leftovers(run_dir: Path) -> list[int]:
    """Pids of live processes that carry this run's marker (zombies excluded)."""
    wanted = f"{MARKER}={run_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and wanted in environ.split(b"\0"):
            found.append(int(entry.name))
    return found
