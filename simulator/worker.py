"""The worker end of a simulation started on another interpreter (interpreter.py): it reads one
job, runs the whole city or one part of it, and writes back the outcome.

Rules kept here:
1. The job arrives pickled on stdin: an interpreter.Job, its arrays Packed.
2. The outcome, or the WorkerError that stopped the run, goes back pickled on the file
   descriptor the job names, never on stdout: whatever the worker prints stays the user's.
3. Progress goes on the job's progress descriptor, when it has one (progress_pipe.py).
4. This module, and every module a run imports, keeps to Python 3.9: PyPy 7.3's.
"""

from __future__ import annotations

import os
import pickle
import socket
import sys
import traceback

from .engine import Simulation
from .interpreter import Job
from .outcome import Outcome, WorkerError
from .parallel import run_part
from .progress_pipe import reporter
from .radio import links_from_pairs


def run(job: Job) -> Outcome | WorkerError:
    positions_m = job.positions_m.array()
    pairs, ratio, rssi = (packed.array() for packed in job.link_pairs)
    links = links_from_pairs(len(positions_m), pairs, ratio, rssi)
    progress = reporter(job.progress_fd) if job.progress_fd is not None else None
    if job.part is None:
        try:
            outcome: Outcome | WorkerError = Simulation(
                job.spec, positions_m, job.gateways, progress, None, links).run_part()
        except BaseException:  # the parent must hear of it (parallel.py rule 4)
            return WorkerError(f"the simulation:\n{traceback.format_exc()}")
    else:
        ends = [socket.socket(fileno=fd) for fd in job.ends]
        outcome = run_part(job.spec, positions_m, job.gateways, job.part, ends, job.window_s,
                           job.lag, progress, links)
    return outcome


def main() -> None:
    job: Job = pickle.load(sys.stdin.buffer)
    outcome = run(job)
    if job.progress_fd is not None:
        os.close(job.progress_fd)
    with os.fdopen(job.result_fd, "wb") as result:
        pickle.dump(outcome, result, 4)
