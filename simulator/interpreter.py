"""Which Python runs a simulation, and starting a worker on it.

Rules kept here:
1. A simulation runs on this interpreter (in this process, or on forked workers: parallel.py)
   unless another is set. MESHBULB_SIM_PYTHON names it; unset, the checkout's
   .venv-pypy/bin/python is taken when it exists (`make` builds it where pypy3 is installed)
   and the run holds at least PYPY_MIN_BULB_S bulb-seconds: PyPy runs a city about 1.5 times
   as fast as CPython once its JIT has warmed up, which costs a small run more than it saves
   (docs/simulator.md). MESHBULB_SIM_PYTHON=self keeps every run on this interpreter.
   Either way it is the same run: the same core code, the same draws in the same order.
2. Another interpreter is started afresh, not forked. It imports meshbulb and meshbulb_sim from
   the folders this process imports them from, whatever is installed there, and runs
   worker.main(): the job goes pickled to its stdin, the outcome comes back on a pipe of its
   own (worker.py rules 1-3), progress on another (progress_pipe.py).
3. The links are drawn here, once, and handed to every worker (radio.py rule 7): a worker may
   have no scipy, and every part must see the same links.
4. A worker that exits without an outcome fails the run with its exit code; what it printed
   went to this process's stdout and stderr.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import meshbulb

from .engine import SimSpec
from .outcome import Outcome, WorkerError
from .parts import Part
from .progress_pipe import follow
from .radio import link_pairs

ENV_VAR = "MESHBULB_SIM_PYTHON"
THIS_INTERPRETER = "self"
PYPY_MIN_BULB_S = 1_000_000  # rule 1: 2,000 bulbs for 500 simulated seconds
CHECKOUT_PYPY = Path(__file__).resolve().parent.parent / ".venv-pypy" / "bin" / "python"
_BOOT = """\
import importlib.abc, importlib.util, sys
roots = {roots!r}
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        root = roots.get(name)
        if root is None:
            return None
        return importlib.util.spec_from_file_location(
            name, root + "/__init__.py", submodule_search_locations=[root])
sys.meta_path.insert(0, Finder())
from meshbulb_sim.worker import main
main()
"""


@dataclass(frozen=True)
class Packed:
    """Rule 2: a numpy array as plain values, so that the parent's numpy release and the
    worker's need not be the same one."""

    dtype: str
    shape: tuple[int, ...]
    data: bytes

    @staticmethod
    def of(array: np.ndarray) -> Packed:
        array = np.ascontiguousarray(array)
        return Packed(array.dtype.str, tuple(array.shape), array.tobytes())

    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype)).reshape(self.shape).copy()


@dataclass(frozen=True)
class Job:
    """Rule 2: what a worker on another interpreter is to run."""

    spec: SimSpec
    positions_m: Packed
    gateways: list[int]
    link_pairs: tuple[Packed, Packed, Packed]  # radio.link_pairs, drawn here (rule 3)
    part: Part | None  # None: the whole city, on that worker alone
    ends: list[int]  # descriptors of the sockets to the other parts, by their index
    window_s: float
    lag: int
    result_fd: int  # the outcome goes back here, pickled
    progress_fd: int | None  # fractions done, as 8-byte doubles


def simulation_python(bulb_s: float, environ: Mapping[str, str] | None = None) -> str | None:
    """Rule 1: the interpreter to run a simulation of bulb_s bulb-seconds on, or None for
    this one."""
    env = os.environ if environ is None else environ
    chosen = env.get(ENV_VAR, "")
    if chosen == THIS_INTERPRETER:
        return None
    if chosen:
        if not os.access(chosen, os.X_OK):
            raise WorkerError(f"{ENV_VAR}={chosen}: no interpreter there to run the "
                              f"simulation on (set {ENV_VAR}={THIS_INTERPRETER} to run it "
                              "on this one)")
        return chosen
    if bulb_s < PYPY_MIN_BULB_S or not os.access(CHECKOUT_PYPY, os.X_OK):
        return None
    return str(CHECKOUT_PYPY)


def _roots() -> dict[str, str]:
    """Rule 2: where this process imports the packages a worker needs from."""
    import meshbulb_sim
    return {module.__name__: str(Path(module.__file__ or "").parent)
            for module in (meshbulb, meshbulb_sim)}


@dataclass
class Started:
    """A worker running on another interpreter, with the ends of its pipes."""

    process: subprocess.Popen[bytes]
    result: int
    progress: threading.Thread | None

    def outcome(self, name: str) -> Outcome | WorkerError:
        """Rule 4: wait for the worker's outcome."""
        with os.fdopen(self.result, "rb") as result:
            data = result.read()
        code = self.process.wait()
        if self.progress is not None:
            self.progress.join()
        if not data:
            return WorkerError(f"{name} exited with code {code} and no outcome (what it "
                               f"printed says why; {ENV_VAR}={THIS_INTERPRETER} runs "
                               "simulations on this interpreter)")
        got = pickle.loads(data)
        if not isinstance(got, (Outcome, WorkerError)):
            return WorkerError(f"{name} sent {type(got).__name__}, not an outcome")
        return got


def start_worker(python: str, spec: SimSpec, positions_m: np.ndarray, gateways: list[int],
                 pairs: tuple[Packed, Packed, Packed], part: Part | None, ends: list[int],
                 window_s: float, lag: int,
                 progress: Callable[[float], None] | None) -> Started:
    """Rule 2: start one worker on python for the whole city (part None) or one part."""
    result_read, result_write = os.pipe()
    progress_read, progress_write = os.pipe() if progress is not None else (None, None)
    ours = [result_write, *([progress_write] if progress_write is not None else [])]
    job = Job(spec, Packed.of(positions_m), list(gateways), pairs, part, ends, window_s, lag,
              result_write, progress_write)
    process = subprocess.Popen([python, "-c", _BOOT.format(roots=_roots())],
                               stdin=subprocess.PIPE, pass_fds=[*ours, *ends])
    for fd in ours:  # the caller closes its ends of the sockets once every worker has its own
        os.close(fd)
    assert process.stdin is not None
    try:
        process.stdin.write(pickle.dumps(job, 4))
        process.stdin.close()
    except BrokenPipeError:
        pass  # it died at once: outcome() says how
    follower = (follow(progress_read, progress)
                if progress_read is not None and progress is not None else None)
    return Started(process, result_read, follower)


def drawn_links(spec: SimSpec, positions_m: np.ndarray) -> tuple[Packed, Packed, Packed]:
    """Rule 3."""
    pairs, ratio, rssi = link_pairs(positions_m, spec.radio, spec.seed)
    return Packed.of(pairs), Packed.of(ratio), Packed.of(rssi)
