"""One city on several processes: each runs a strip of it (parts.py) and they swap what
crosses the border (border.py) every WINDOW_S of simulated time.

Rules kept here:
1. The parent splits the city (parts.py). Each worker is a process with its own simpy
   queue, its own Simulation of its part and its own seeded draws: forked, or started afresh
   on another interpreter (interpreter.py); the parent waits for their outcomes and merges
   them (outcome.py). run_city runs a city on one worker or several, either way. The first
   part's progress reaches the parent's callback over a pipe (progress_pipe.py).
2. Every WINDOW_S of simulated time each worker stops, writes its border records to every
   other worker and reads theirs, in the order of the workers' indices. It reads the records
   of LAG_WINDOWS windows before, not of the window just run: a worker waits for another
   only when that one is more than LAG_WINDOWS windows behind, so the two need not finish
   every window together.
   A swap writes and reads at once, so two workers with more to say than a socket buffers
   never wait on each other. A worker spins while it waits, as each has a core of its own
   (a pipe wakes a sleeping process tens of microseconds late, and there are 150,000 windows
   in 10 simulated minutes); after _SPINS polls it sleeps on the socket instead.
3. So a frame from across the border reaches a part at most (1 + LAG_WINDOWS) windows after
   it began: 8 ms, about what a frame takes to cross two hops (a bulb's 2 ms of processing,
   its airtime and backoff at each). Shorter windows cost more than they bring: 10,000 bulbs
   x 10 simulated minutes on two workers took 60.5 s with 2 ms windows read one late, 57.8 s
   and 57.9 s read two and three late, 53.0 s four late, and 52.1 s with 4 ms windows read
   one late (on one worker about 78 s). Half of what a worker loses is waiting for the
   other: the work of a window is a handful of frames, and which part gets more is chance.
4. A worker that fails takes the run with it: the parent reports which part failed and why.
5. What a worker reads depends only on the other workers' simulated windows, never on how
   fast they ran: the same seed and number of workers give the same run.
6. A worker that has run its last window may still be written to: another, up to
   LAG_WINDOWS windows behind, sends its last records, which nobody reads. So a worker that
   is done shuts only its sending side and reads until every other has done the same; then
   it closes. (Closing at once made a slower worker's last send fail, now and then, with
   three workers on two cores.)
7. Asked to choose (auto_workers), a run takes one worker per core, but no more than gives
   each at least MIN_BULBS_PER_WORKER bulbs, or MIN_BULBS_PER_WORKER_AFRESH where the
   workers are started afresh on another interpreter: below that a split costs more in
   swaps, and on PyPy in each worker's JIT warm-up, than it saves. Measured on two cores,
   10 simulated minutes, one worker against two: on CPython 1,000 bulbs 6.0 against 7.1 to
   9.0 s, 2,000 bulbs (5 minutes) 9.7 against 8.4 s; on PyPy 2,000 bulbs 14.4 against
   16.4 s, 4,000 21.0 against 21.6 s, 10,000 46 against 37 s.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import select
import socket
import struct
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Protocol

import numpy as np

from .border import BorderMedium, Record
from .engine import SimSpec, Simulation
from .interpreter import drawn_links, start_worker
from .outcome import Outcome, WorkerError, merge
from .parts import Part, bulb_work, split_city
from .progress_pipe import follow, reporter
from .radio import LinkTable
from .results import RunResult

WINDOW_S = 0.004
MIN_BULBS_PER_WORKER = 1_000  # rule 7
MIN_BULBS_PER_WORKER_AFRESH = 2_500
LAG_WINDOWS = 1
_LENGTH = struct.Struct(">Q")
_READ_BYTES = 65536
_SPINS = 2000  # polls of a socket before a waiting worker sleeps on it instead


class Channel:
    """One end of a socket pair to another worker, with what has been read past the last
    message (the other end may already have sent its next one)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)  # rule 2: each worker has a core of its own, so it spins
        self.sock = sock
        self.pending = bytearray()
        # Read into one buffer: a spinning worker polls thousands of times a window, and on
        # PyPy each recv(65536) allocated 64 KiB (10,000 bulbs x 10 minutes on two workers
        # took 180 s against 59 s on one).
        self._buffer = bytearray(_READ_BYTES)
        self._view = memoryview(self._buffer)

    def swap(self, payload: bytes) -> bytes:
        """Rule 2: send payload to the other end while reading what it sends; return that."""
        sock = self.sock
        out = memoryview(_LENGTH.pack(len(payload)) + payload)
        sent = 0
        got = self.pending
        need = _LENGTH.size
        idle = 0
        while True:
            if need == _LENGTH.size and len(got) >= need:
                need += _LENGTH.unpack_from(got)[0]
            if sent == len(out) and len(got) >= need:
                break
            idle += 1
            if sent < len(out):
                try:
                    moved = sock.send(out[sent:])
                except BlockingIOError:
                    moved = 0
                except (BrokenPipeError, ConnectionResetError):
                    raise ConnectionError("the other part of the run went away") from None
                sent += moved
                idle = 0 if moved else idle
            if len(got) < need:
                try:
                    moved = sock.recv_into(self._buffer)
                except BlockingIOError:
                    moved = -1
                if moved >= 0:
                    if not moved:
                        raise ConnectionError("the other part of the run went away")
                    got += self._view[:moved]
                    idle = 0
            if idle > _SPINS:  # rule 2: waited long, or shares a core: sleep until it moves
                select.select([sock] if len(got) < need else [],
                              [sock] if sent < len(out) else [], [], 0.01)
        message = bytes(got[_LENGTH.size:need])
        del got[:need]
        return message

    def post(self, payload: bytes) -> None:
        """Send a short message without reading (it fits the socket's buffer)."""
        self.sock.sendall(_LENGTH.pack(len(payload)) + payload)

    def stop_sending(self) -> None:
        """Rule 6: tell the other end that nothing more comes from here."""
        with contextlib.suppress(OSError):  # the other end has gone already
            self.sock.shutdown(socket.SHUT_WR)

    def read_to_end(self) -> None:
        """Rule 6: read, and drop, what the other end still sends until it stops sending."""
        sock = self.sock
        while True:
            select.select([sock], [], [])
            try:
                if not sock.recv(65536):
                    return
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return

    def close(self) -> None:
        self.sock.close()


def _windows(sim: Simulation, peers: list[Channel], window_s: float,
             lag: int) -> Callable[[float], None]:
    """Rule 2: an advance() for Simulation.run_part that swaps border records every window."""
    medium = sim.medium
    assert isinstance(medium, BorderMedium)
    env = sim.env
    step = [1]
    for peer in peers:
        for _ in range(lag):
            peer.post(b"")

    def advance(until_s: float) -> None:
        while step[0] * window_s <= until_s:
            t_s = step[0] * window_s
            if t_s > env.now:
                env.run(until=t_s)
            records: list[Record] = medium.outbox
            # Most windows have nothing to say: an empty message, not a pickled empty list.
            payload = b""
            if records:
                medium.outbox = []
                payload = pickle.dumps(records, pickle.HIGHEST_PROTOCOL)
            for peer in peers:
                message = peer.swap(payload)
                if message:
                    medium.apply(pickle.loads(message))
            step[0] += 1
        if until_s > env.now:
            env.run(until=until_s)

    return advance


def _work(spec: SimSpec, positions_m: np.ndarray, gateways: list[int], part: Part,
          ends: list[socket.socket], others: list[socket.socket], result: Connection,
          window_s: float, lag: int, progress_fd: int | None) -> None:
    for end in others:  # so that a worker that dies is seen to go away (rule 4)
        end.close()
    progress = reporter(progress_fd) if progress_fd is not None else None
    result.send(run_part(spec, positions_m, gateways, part, ends, window_s, lag, progress))
    result.close()
    if progress_fd is not None:
        os.close(progress_fd)


def run_part(spec: SimSpec, positions_m: np.ndarray, gateways: list[int], part: Part,
             ends: list[socket.socket], window_s: float, lag: int,
             progress: Callable[[float], None] | None,
             links: LinkTable | None = None) -> Outcome | WorkerError:
    """A worker's run of its part, swapping with the other parts through ends (rule 2); its
    outcome, or the WorkerError that stopped it (rule 4)."""
    peers = [Channel(end) for end in ends]
    try:
        sim = Simulation(spec, positions_m, gateways, progress, part, links)
        outcome: Outcome | WorkerError = sim.run_part(_windows(sim, peers, window_s, lag))
        for peer in peers:  # rule 6: first tell every other worker, then wait for each
            peer.stop_sending()
        for peer in peers:
            peer.read_to_end()
    except BaseException:  # rule 4: whatever it was, the parent must hear of it
        outcome = WorkerError(f"part {part.index} of {part.parts}:\n{traceback.format_exc()}")
    finally:
        for peer in peers:
            peer.close()
    return outcome


def run_city(spec: SimSpec, positions_m: np.ndarray, gateways: list[int], workers: int,
             progress: Callable[[float], None] | None = None,
             python: str | None = None) -> tuple[RunResult, list[Outcome]]:
    """The city on `workers` processes (on this one alone when 1), on this interpreter or on
    python (interpreter.py); the merged result and each part's outcome."""
    if workers == 1 and python is None:
        outcomes = [Simulation(spec, positions_m, gateways, progress).run_part()]
        return merge(spec, positions_m, gateways, outcomes), outcomes
    if workers == 1:
        assert python is not None
        pairs = drawn_links(spec, positions_m)
        outcomes = _collected([("the simulation", start_worker(
            python, spec, positions_m, gateways, pairs, None, [], 0.0, 0, progress))])
        return merge(spec, positions_m, gateways, outcomes), outcomes
    return run_parts(spec, positions_m, gateways, workers, progress, python=python)


def run_parts(spec: SimSpec, positions_m: np.ndarray, gateways: list[int], workers: int,
              progress: Callable[[float], None] | None = None,
              window_s: float | None = None,
              lag: int = LAG_WINDOWS,
              python: str | None = None) -> tuple[RunResult, list[Outcome]]:
    """Run the city on `workers` processes, forked or on python (interpreter.py); the merged
    result and each part's outcome."""
    if workers < 2:
        raise ValueError(f"a parallel run needs at least 2 workers, got {workers}")
    window = window_s if window_s is not None else WINDOW_S
    parts = split_city(positions_m, workers, bulb_work(positions_m, spec.radio.range_m))
    sockets: dict[tuple[int, int], tuple[socket.socket, socket.socket]] = {
        (a, b): socket.socketpair() for a in range(workers) for b in range(a + 1, workers)}
    pairs = drawn_links(spec, positions_m) if python is not None else None
    context = multiprocessing.get_context("fork")
    running: list[tuple[str, Running]] = []
    for part in parts:
        k = part.index
        ends = [sockets[(min(k, o), max(k, o))][0 if k < o else 1]
                for o in range(workers) if o != k]
        shown = progress if k == 0 else None
        if python is not None and pairs is not None:  # rule 1: started afresh
            started: Running = start_worker(
                python, spec, positions_m, gateways, pairs, part, [e.fileno() for e in ends],
                window, lag, shown)
        else:
            others = [end for pair in sockets.values() for end in pair if end not in ends]
            receive, send = context.Pipe(duplex=False)
            progress_read, progress_write = os.pipe() if shown is not None else (None, None)
            process = context.Process(
                target=_work, name=f"meshbulb-part-{k}",
                args=(spec, positions_m, gateways, part, ends, others, send, window, lag,
                      progress_write))
            process.start()
            send.close()
            if progress_write is not None:  # before the next fork, which must not inherit it
                os.close(progress_write)
            follower = (follow(progress_read, shown)
                        if progress_read is not None and shown is not None else None)
            started = _Forked(process, receive, follower)
        running.append((f"part {k} of {workers}", started))
    for a, b in sockets.values():
        a.close()
        b.close()
    outcomes = _collected(running)
    return merge(spec, positions_m, gateways, outcomes), outcomes


class Running(Protocol):
    """A worker under way."""

    def outcome(self, name: str) -> Outcome | WorkerError: ...


class _Forked:
    def __init__(self, process: multiprocessing.process.BaseProcess,
                 receive: Connection, progress: threading.Thread | None) -> None:
        self.process = process
        self.receive = receive
        self.progress = progress

    def outcome(self, name: str) -> Outcome | WorkerError:
        try:
            got: Outcome | WorkerError = self.receive.recv()
        except EOFError:
            got = WorkerError(f"{name} exited with code {self.process.exitcode}")
        self.process.join()
        if self.progress is not None:
            self.progress.join()
        return got


def _collected(running: list[tuple[str, Running]]) -> list[Outcome]:
    """Rule 4: every worker's outcome, or one WorkerError naming each that failed."""
    outcomes: list[Outcome] = []
    failures: list[str] = []
    for name, worker in running:
        got = worker.outcome(name)
        if isinstance(got, WorkerError):
            failures.append(str(got))
        else:
            outcomes.append(got)
    if failures:
        raise WorkerError("\n".join(failures))
    return outcomes


def usable_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


def auto_workers(bulbs: int, cores: int, afresh: bool) -> int:
    """Rule 7: how many workers a city of `bulbs` gains from, on `cores` cores; afresh when
    the workers start on another interpreter."""
    least = MIN_BULBS_PER_WORKER_AFRESH if afresh else MIN_BULBS_PER_WORKER
    return max(1, min(cores, bulbs // least))
