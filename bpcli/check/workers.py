"""Work run where it can be stopped: child processes that run jobs sent over a pipe, one at a
time, killed at a deadline (or on demand) and replaced, so that the CPU and the memory of a
job that has to be stopped go with its process.

SymPy's checks run in them (bpcli.check.sympy_bridge), and so does every computation of
`bp serve` (bpcli.views.web.server). A worker is forked (from a process that has warmed up
what its jobs need, so every worker and every replacement starts warm), ignores Ctrl-C (the
parent alone decides), closes the sockets it inherited (a server's listening socket and its
clients' connections stay the server's), and runs under a memory limit. A job is a
module-level function; it, its arguments and its result travel by pipe, so they must pickle.

Inside a worker, `within` runs a nested job in the same process with a deadline of its own
(a SIGALRM): the worker itself is the stoppable unit, and a job stopped that way leaves the
worker to be replaced after its current job (`retire`).
"""

from __future__ import annotations

import gc
import os
import signal
import stat
import sys
import threading
from dataclasses import dataclass

MEMORY = 2 << 30  # bytes a worker may add to what it inherits

# Why a job has no result: the worker was killed at the deadline, stopped without an answer
# (killed from outside, out of memory in C code), raised MemoryError, RecursionError, or
# another exception (its text in `detail`).
TIMEOUT, CRASHED, MEMORY_ERROR, RECURSION, FAILED = "timeout", "crashed", "memory", "recursion", "failed"


@dataclass(frozen=True)
class Failure:
    """Why a job gave no result (one of the kinds above), with the exception's text if any."""

    kind: str
    detail: str = ""


_INSIDE = False  # whether this process is a worker
_RETIRING = False  # whether this worker should end after its current job


def inside() -> bool:
    """Whether this process is a worker (then nested jobs run here, under `within`)."""
    return _INSIDE


def retire() -> None:
    """Have this worker end after its current job (its parent forks a fresh one)."""
    global _RETIRING
    _RETIRING = True


class _Alarm(BaseException):
    """`within`'s deadline: a BaseException, so that no `except Exception` of a job swallows it."""


def within(job, args: tuple, seconds: float) -> tuple[bool, object]:
    """job(*args) in this worker with a deadline: (True, result) or (False, Failure). A job
    stopped by its deadline or by MemoryError retires the worker. C code that holds the GIL
    delays the alarm: the worker's own deadline (its parent kills it) still holds."""
    def ring(signum, frame):
        raise _Alarm

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        done, answer, fit = outcome(job, args)
    except _Alarm:
        done, answer, fit = False, Failure(TIMEOUT), False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if not fit:
        retire()
    return done, answer


class Worker:
    """A child process that runs jobs sent over a pipe, one at a time, until closed."""

    def __init__(self, memory: int = MEMORY) -> None:
        import multiprocessing  # deferred: ~10 ms, only when a worker process starts

        context = multiprocessing.get_context("fork")
        self.pipe, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, self.pipe, memory), daemon=True)
        self.process.start()
        theirs.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    def ask(self, job, args: tuple, seconds: float) -> tuple[bool, object, bool]:
        """(done, result or Failure, whether this worker may take another job). At the
        deadline the answer is a TIMEOUT failure and the worker is unfit: close it."""
        try:
            self.pipe.send((job, args))
        except (BrokenPipeError, ConnectionResetError, OSError):
            return False, Failure(CRASHED), False
        try:
            if not self.pipe.poll(seconds):
                return False, Failure(TIMEOUT), False
            return self.pipe.recv()
        except (EOFError, OSError):
            return False, Failure(CRASHED), False

    def close(self) -> None:
        """Kill the process (if it still runs) and wait for it: its memory goes with it."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.pipe.close()


def _serve(pipe, parents_end, memory: int) -> None:
    """The child's loop: a job in, its outcome out, until the parent closes the pipe."""
    global _INSIDE
    _INSIDE = True
    parents_end.close()  # else the pipe never reports the parent gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a server's handler would only set its flag
    signal.set_wakeup_fd(-1)
    _close_sockets(keep=pipe.fileno())
    gc.freeze()  # what it inherited is never collected here: the collector need not walk (and copy) it
    _limit_memory(memory)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 8_000))
    while True:
        try:
            job, args = pipe.recv()
        except (EOFError, OSError):
            return
        done, answer, fit = outcome(job, args)
        fit = fit and not _RETIRING
        try:
            pipe.send((done, answer, fit))
        except (BrokenPipeError, OSError):
            return
        if not fit:
            return


def outcome(job, args) -> tuple[bool, object, bool]:
    """(done, result or Failure, whether the process is still fit for another job)."""
    try:
        return True, job(*args), True
    except RecursionError:
        return False, Failure(RECURSION), True
    except MemoryError:
        return False, Failure(MEMORY_ERROR), False
    except Exception as e:  # a job's own failure must not take the worker (or bp) down
        return False, Failure(FAILED, f"{type(e).__name__}: {e}"), True


def _close_sockets(keep: int) -> None:
    """Close every socket inherited from the parent but the pipe: a server's client connection
    must end when the server closes it, not live on in a worker forked meanwhile."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd == keep or fd < 3:
            continue
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.close(fd)
        except OSError:
            pass


def _limit_memory(extra: int) -> None:
    try:
        import resource  # deferred: only a worker process limits its memory

        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (used + extra, used + extra))
    except (ImportError, OSError, ValueError):
        pass  # no /proc or no rlimits: the deadline still holds


class Pool:
    """Warm workers kept for the life of a process (a server's), shared by its threads.

    A worker serves one job at a time; one that timed out, crashed or ran out of memory is
    killed and replaced. Nothing of a job survives in the worker but the caches of what it
    imported. `warm_up` runs once in this process before the first fork, so every worker,
    and every replacement, is forked warm.
    """

    def __init__(self, size: int, warm_up=None, memory: int = MEMORY) -> None:
        if warm_up is not None:
            warm_up()
        self.memory = memory
        self._idle = [Worker(memory) for _ in range(size)]
        self._ready = threading.Condition()
        self._closed = False

    def take(self, seconds: float) -> Worker | None:
        """An idle worker, waiting up to `seconds` for one; None if none came free. One that
        ended while idle (killed from outside) is replaced before it is given a job."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._idle or self._closed, timeout=seconds) or self._closed:
                return None
            worker = self._idle.pop()
        if not worker.process.is_alive():
            worker.close()
            worker = Worker(self.memory)
        return worker

    def give_back(self, worker: Worker, fit: bool) -> None:
        """Return a worker after its job; an unfit one is killed and replaced by a fresh one."""
        if not fit or self._closed:
            worker.close()
            if self._closed:
                return
            worker = Worker(self.memory)
        with self._ready:
            if self._closed:
                worker.close()
                return
            self._idle.append(worker)
            self._ready.notify()

    def pids(self) -> list[int]:
        """The idle workers' process ids."""
        with self._ready:
            return [w.pid for w in self._idle]

    def close(self) -> None:
        with self._ready:
            self._closed = True
            idle, self._idle = self._idle, []
            self._ready.notify_all()
        for worker in idle:
            worker.close()
