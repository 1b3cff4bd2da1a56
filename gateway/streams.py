"""Reliable multiplexed byte streams inside one end-to-end session: a tiny sans-IO TCP.

One StreamMux per session. Segments go out through the `send` callback (the owner seals each
into one session packet) and come in through receive(); the session delivers them unordered,
maybe lost, never duplicated (its replay window). Time is the caller's integer ms.

Rules kept here:
1. Segment = header (16 bytes) || n SACK blocks (4 bytes each) || payload, big-endian:
     byte 0       version (high nibble, 1) | type (low nibble, below)
     byte 1       n, the SACK block count: 0..8, at most 4 on a segment with payload
     bytes 2-3    stream id
     bytes 4-7    seq: stream byte offset of the first payload byte (RST: rule 8)
     bytes 8-11   ack: the next byte offset wanted from the peer (cumulative; the peer's
                  FIN counts as one byte after its last data byte)
     bytes 12-13  window: free receive buffer in bytes past ack
     bytes 14-15  payload length L; a segment is exactly 16 + 4n + L bytes
     SACK block   start (u16), end (u16): bytes [ack + start, ack + end) are held out of
                  order, 0 < start < end
   Types: 1 OPEN (payload: the target "host:port", UTF-8, 1..255 bytes; seq = ack = 0),
   2 OPEN_OK, 3 OPEN_FAIL (payload: reason, UTF-8, <= 255 bytes), 4 DATA (L >= 1), 5 ACK,
   6 FIN (DATA whose payload, maybe empty, ends the stream), 7 RST (payload: reason),
   8 PING (asks for an immediate ACK). OPEN, OPEN_FAIL and RST carry n = 0; OPEN_OK, ACK
   and PING carry L = 0. Offsets are sent modulo 2**32 and unwrapped against the value
   expected next, so a stream may outgrow 4 GiB. A data segment is at most 32 + mss bytes:
   192 at the default mss, what a 250-byte ESP-NOW frame leaves after the mesh header, the
   MIC and the session's counter and tag. OPEN, OPEN_FAIL and RST take 16 + their text
   (a target over 176 bytes needs a path that fragments).
2. Stream ids: the initiator mux opens even ids, the responder odd ones, counting up modulo
   2**16 and skipping ids in use or remembered by a tombstone (rule 8).
3. Opening: OPEN is retransmitted on the retransmission timer (rule 5) until OPEN_OK,
   OPEN_FAIL or RST arrives; any other segment on an opening stream counts as OPEN_OK (the
   peer sends nothing before accepting). A repeated OPEN is answered with OPEN_OK again once
   accepted, and ignored while the owner decides. Bytes written earlier wait in the send
   buffer; a full table refuses with "limit:streams".
4. Sending: write() takes what fits in send_buffer bytes (unacknowledged plus unsent). Data
   is cut into segments of at most mss bytes whose boundaries never change; segments in
   flight (neither acknowledged, SACKed nor deemed lost) stay below window_segments, and no
   byte goes past the peer's right edge (ack + window, which never moves left). The FIN
   rides on the last data segment, or goes alone, ignoring a zero window.
5. Loss and timers: cumulative ACK plus SACK blocks, the most recently grown block first so
   that each is repeated in several ACKs. A segment sent before one since acknowledged is
   lost once older than SRTT + 2 RTTVAR (a reordering allowance, as in RACK); the third
   duplicate ACK marks the first unacknowledged segment lost once older than SRTT (fast
   retransmit). Lost segments go again before new data. RTO: RFC 6298 (SRTT, RTTVAR; clamped
   to RTO_MIN_MS..rto_max_ms; rto_initial_ms before any sample), one estimate for all streams
   of the mux, sampled from every segment acknowledged after one transmission, or after two
   when the answer came sooner than the minimum RTT (so it answers the first: Karn's rule
   without losing the slow samples). Each expiry doubles the stream's timer, up to
   rto_max_ms, and retransmits the OPEN, else the first unacknowledged segment (once anything
   sent later is acknowledged, every older unacknowledged segment counts as lost), else a
   PING: a persist probe (zero window, data waiting) or a keep-alive (nothing heard for
   idle_timeout_ms // 8). From the second expiry in a row it goes out twice: at 34 % loss a
   lone retransmission and its ACK both arrive 43 % of the time, so backoff alone would leave
   tails of many seconds.
6. Liveness: every expiry counts a retry; acknowledged progress resets the count, and so does
   any segment from the peer while nothing is outstanding. The expiry after max_retries
   retries gives Reset(reason="timeout") locally and sends RST "timeout": a dead peer is found
   at most (max_retries + 1) * rto_max_ms after the first unanswered transmission. Nothing
   at all from the peer for idle_timeout_ms gives Reset "idle" the same way.
7. Receiving: each byte is delivered once, in order, as Data events. ACK every second
   segment or ACK_DELAY_MS after the first unacknowledged one; at once for out-of-order,
   duplicate or hole-filling data, a FIN or a PING. The window is recv_buffer minus bytes
   delivered but not drained yet by events() (or held by pause_reading()); draining that opens
   it by max(mss, recv_buffer // 4) sends a window update. Out-of-order bytes are kept only
   inside the window. Closed follows the last Data once the peer's FIN is in order.
8. Ending: close() sends FIN after the pending data; the stream is forgotten once our FIN is
   acknowledged and the peer's FIN delivered. reset() sends RST and forgets the stream at
   once (no local event). A forgotten stream leaves a tombstone for idle_timeout_ms (the
   newest 4 * max_streams + 64 are kept): a closed one re-ACKs the peer's retransmissions, a
   reset or refused one answers with the same RST or OPEN_FAIL. An RST's seq is the sender's
   next offset; every RST is answered with ACK(ack = seq + 1), which no ordinary ACK carries,
   and a local reset() retransmits its RST on the timer until that ACK comes. Never an RST
   for an RST; anything else for an unknown stream gets RST "unknown" (not ACK or OPEN_FAIL).
9. receive() never raises: a segment that fails parsing, or does not fit the stream (an ack
   past what was sent, data past the FIN, a misplaced FIN, OPEN with the wrong id parity or
   another target), counts in stats.malformed and changes nothing. Integrity is the
   session's job: a well-formed forged segment would be taken for data.
10. No clock, randomness or I/O here; calls without now_ms use the time of the latest
   receive() or tick() (or construction). The owner calls tick() at next_deadline_ms().
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable
from dataclasses import dataclass

VERSION = 1
OPEN = 1
OPEN_OK = 2
OPEN_FAIL = 3
DATA = 4
ACK = 5
FIN = 6
RST = 7
PING = 8
HEADER = struct.Struct(">BBHIIHH")
HEADER_LEN = HEADER.size
MAX_SACK = 8
MAX_SACK_DATA = 4
MAX_TEXT = 255
MAX_WINDOW = 0xFFFF
ACK_DELAY_MS = 20
RTO_MIN_MS = 100
DUP_THRESH = 3
_MOD = 1 << 32
_HALF = 1 << 31
_BLOCK = struct.Struct(">HH")

# Stream phases.
_OPENING = 0  # we sent OPEN
_PENDING = 1  # the peer sent OPEN; the owner has not answered yet
_OPEN = 2
# Tombstone kinds (rule 8).
_T_CLOSED = 0
_T_RESET = 1
_T_REFUSED = 2


class StreamError(ConnectionError):
    """An operation the stream's state does not allow, or a full stream table."""


@dataclass(frozen=True, slots=True)
class Opened:
    stream_id: int
    target: str


@dataclass(frozen=True, slots=True)
class Accepted:
    stream_id: int


@dataclass(frozen=True, slots=True)
class Refused:
    stream_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Data:
    stream_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Closed:
    stream_id: int


@dataclass(frozen=True, slots=True)
class Reset:
    stream_id: int
    reason: str


Event = Opened | Accepted | Refused | Data | Closed | Reset


@dataclass(slots=True)
class Stats:
    """segments_in counts well-formed segments; bytes_out counts application bytes sent once
    (not retransmissions), bytes_in application bytes delivered in order."""

    segments_out: int = 0
    segments_in: int = 0
    retransmits: int = 0
    malformed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


@dataclass(slots=True)
class _Seg:
    seq: int
    length: int
    fin: bool
    sent_ms: int
    order: int  # per-stream transmission number of the latest transmission
    first_ms: int
    tx: int = 1
    sacked: bool = False
    lost: bool = False


@dataclass(slots=True)
class _Tomb:
    kind: int
    reason: str
    value: int  # closed: our final ack; reset: the RST's seq
    expires_ms: int
    next_ms: int | None = None  # reset(): when the RST goes again
    tries: int = 0


class _Stream:
    def __init__(self, sid: int, target: str, local: bool, phase: int, now_ms: int) -> None:
        self.sid = sid
        self.target = target
        self.local = local
        self.phase = phase
        # Sending: buf holds bytes [snd_una, data end); snd_nxt counts the FIN once sent.
        self.buf = bytearray()
        self.snd_una = 0
        self.snd_nxt = 0
        self.fin_seq: int | None = None
        self.peer_edge = 0
        self.segs: list[_Seg] = []
        self.order = 0
        self.rack_order = 0  # newest transmission acknowledged so far
        self.lost_below = 0  # after an RTO: older transmissions are all lost
        self.rto_order = 0
        self.rack_at: int | None = None  # when a reordering allowance runs out
        self.dupacks = 0
        self.rto_at: int | None = None
        self.backoff = 0
        self.retries = 0
        self.probing = False
        # Receiving.
        self.rcv_nxt = 0
        self.ooo: dict[int, bytes] = {}  # out-of-order segments by offset
        self.held: list[list[int]] = []  # their merged spans (and a FIN): [lo, hi, arrival]
        self.arrivals = 0
        self.ooo_bytes = 0
        self.fin_at: int | None = None
        self.rx_fin = False  # the peer's FIN is in order
        self.closed_queued = False
        self.queued = 0  # delivered bytes still in undrained Data events
        self.ready = bytearray()  # delivered bytes held by pause_reading()
        self.paused = False
        self.adv_edge = 0
        self.ack_pending = 0
        self.ack_at: int | None = None
        self.ack_now = False
        self.last_rx = now_ms


def _unwrap(value: int, ref: int) -> int:
    """The integer nearest to ref that equals value modulo 2**32."""
    return ref + ((value - ref + _HALF) % _MOD) - _HALF


def _text(payload: bytes, lo: int) -> str | None:
    if not lo <= len(payload) <= MAX_TEXT:
        return None
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _clip_text(text: str) -> bytes:
    return text.encode("utf-8")[:MAX_TEXT].decode("utf-8", "ignore").encode("utf-8")


_Parsed = tuple[int, int, int, int, int, list[tuple[int, int]], bytes]


def parse(segment: bytes) -> _Parsed | None:
    """(type, stream id, seq, ack, window, SACK blocks, payload), or None when malformed."""
    n = len(segment)
    if n < HEADER_LEN:
        return None
    vt, nsack, sid, seq, ack, wnd, length = HEADER.unpack_from(segment, 0)
    typ = vt & 0x0F
    if vt >> 4 != VERSION or not OPEN <= typ <= PING or nsack > MAX_SACK:
        return None
    start = HEADER_LEN + 4 * nsack
    if n != start + length or (length and nsack > MAX_SACK_DATA):
        return None
    blocks = []
    for i in range(nsack):
        lo, hi = _BLOCK.unpack_from(segment, HEADER_LEN + 4 * i)
        if not 0 < lo < hi:
            return None
        blocks.append((lo, hi))
    payload = bytes(segment[start:])
    if typ in (OPEN, OPEN_FAIL, RST):
        if nsack or _text(payload, 1 if typ == OPEN else 0) is None:
            return None
        if typ == OPEN and (seq or ack):
            return None
    elif typ in (OPEN_OK, ACK, PING):
        if length:
            return None
    elif typ == DATA and not length:
        return None
    return typ, sid, seq, ack, wnd, blocks, payload


class StreamMux:
    """The streams of one session (see the module rules)."""

    def __init__(
        self,
        send: Callable[[bytes], None],
        now_ms: int,
        *,
        mss: int = 160,
        window_segments: int = 32,
        initiator: bool,
        max_streams: int = 64,
        rto_initial_ms: int = 400,
        rto_max_ms: int = 8000,
        idle_timeout_ms: int = 120000,
        max_retries: int = 12,
        send_buffer: int = 65536,
        recv_buffer: int = MAX_WINDOW,
    ) -> None:
        if not 1 <= mss <= 0xFFFF or window_segments < 1 or not 1 <= max_streams <= 0x8000:
            raise ValueError("bad mss, window_segments or max_streams")
        if not 1 <= recv_buffer <= MAX_WINDOW or send_buffer < 1:
            raise ValueError("bad buffer size")
        if rto_initial_ms < 1 or rto_max_ms < rto_initial_ms or idle_timeout_ms < 8:
            raise ValueError("bad timers")
        if max_retries < 0:
            raise ValueError("bad max_retries")
        self._send = send
        self._now = now_ms
        self.mss = mss
        self.window_segments = window_segments
        self.initiator = initiator
        self.max_streams = max_streams
        self.rto_max_ms = rto_max_ms
        self.idle_timeout_ms = idle_timeout_ms
        self.max_retries = max_retries
        self.send_buffer = send_buffer
        self.recv_buffer = recv_buffer
        self.stats = Stats()
        self._rto = rto_initial_ms
        self._srtt8 = 0  # 8 * SRTT; 0 before the first sample
        self._rttvar4 = 0  # 4 * RTTVAR
        self._min_rtt = 1 << 30
        self._streams: dict[int, _Stream] = {}
        self._tombs: dict[int, _Tomb] = {}
        self._resetting: set[int] = set()  # tombstones whose RST is retransmitted
        self._events: list[Event] = []
        self._undrained: set[int] = set()
        self._next_id = 0 if initiator else 1
        self._keepalive = idle_timeout_ms // 8

    # --- owner API ----------------------------------------------------------------------

    @property
    def srtt_ms(self) -> int | None:
        return self._srtt8 // 8 if self._srtt8 else None

    @property
    def rto_ms(self) -> int:
        return self._rto

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def open_stream(self, target: str) -> int:
        """Open a stream to "host:port" at the peer; its answer comes as Accepted or
        Refused. Raises StreamError when max_streams are open, ValueError for a bad target."""
        raw = target.encode("utf-8")
        if not 1 <= len(raw) <= MAX_TEXT:
            raise ValueError("target must be 1..255 bytes of UTF-8")
        if len(self._streams) >= self.max_streams:
            raise StreamError("too many streams")
        sid = self._alloc_id()
        st = _Stream(sid, target, True, _OPENING, self._now)
        self._streams[sid] = st
        self._emit(st, OPEN, 0, raw)
        st.rto_at = self._now + self._rto
        return sid

    def accept(self, stream_id: int) -> None:
        st = self._pending(stream_id)
        st.phase = _OPEN
        self._emit(st, OPEN_OK, 0)
        self._push(st)

    def refuse(self, stream_id: int, reason: str) -> None:
        st = self._pending(stream_id)
        raw = _clip_text(reason)
        self._emit_raw(OPEN_FAIL, stream_id, 0, 0, raw)
        self._forget(st)
        self._tombstone(stream_id, _T_REFUSED, raw.decode("utf-8"), 0)

    def write(self, stream_id: int, data: bytes) -> int:
        """Queue bytes; returns how many fit in the send buffer (0 when it is full)."""
        st = self._streams.get(stream_id)
        if st is None:
            raise StreamError("unknown stream")
        if st.fin_seq is not None:
            raise StreamError("stream closed for writing")
        n = min(len(data), self.send_buffer - len(st.buf))
        if n <= 0:
            return 0
        st.buf += data[:n]
        self._push(st)
        return n

    def writable(self, stream_id: int) -> int:
        """How many bytes write() would take now (0 for unknown or closed streams)."""
        st = self._streams.get(stream_id)
        if st is None or st.fin_seq is not None:
            return 0
        return max(0, self.send_buffer - len(st.buf))

    def close(self, stream_id: int) -> None:
        """Send FIN after the pending data. Unknown or already closed streams: no-op."""
        st = self._streams.get(stream_id)
        if st is None or st.fin_seq is not None:
            return
        st.fin_seq = st.snd_una + len(st.buf)
        self._push(st)

    def reset(self, stream_id: int, reason: str) -> None:
        """Abort: send RST (retransmitted until answered) and forget the stream. No event
        follows locally. Unknown streams: no-op."""
        st = self._streams.get(stream_id)
        if st is None:
            return
        raw = _clip_text(reason)
        self._emit_raw(RST, stream_id, st.snd_nxt, st.rcv_nxt, raw)
        self._forget(st)
        tomb = self._tombstone(stream_id, _T_RESET, raw.decode("utf-8"), st.snd_nxt)
        tomb.next_ms = self._now + self._rto
        self._resetting.add(stream_id)

    def pause_reading(self, stream_id: int) -> None:
        """Hold this stream's Data (its window closes as bytes arrive)."""
        st = self._streams.get(stream_id)
        if st is not None:
            st.paused = True

    def resume_reading(self, stream_id: int) -> None:
        st = self._streams.get(stream_id)
        if st is None or not st.paused:
            return
        st.paused = False
        if st.ready:
            self._events.append(Data(stream_id, bytes(st.ready)))
            st.queued += len(st.ready)
            st.ready.clear()
            self._undrained.add(stream_id)
        self._queue_closed(st)
        self._maybe_done(st)

    def events(self) -> list[Event]:
        """Drain the events; adjacent Data of one stream come joined."""
        raw, self._events = self._events, []
        out: list[Event] = []
        run: list[bytes] = []
        run_sid = -1
        for ev in raw:
            if isinstance(ev, Data) and ev.stream_id == run_sid:
                run.append(ev.data)
                continue
            if run:
                out.append(Data(run_sid, b"".join(run)))
                run = []
                run_sid = -1
            if isinstance(ev, Data):
                run = [ev.data]
                run_sid = ev.stream_id
            else:
                out.append(ev)
        if run:
            out.append(Data(run_sid, b"".join(run)))
        step = max(self.mss, self.recv_buffer // 4)
        for sid in self._undrained:
            st = self._streams.get(sid)
            if st is None:
                continue
            st.queued = 0
            if st.phase == _OPEN and st.rcv_nxt + self._window(st) - st.adv_edge >= step:
                self._emit_ack(st)
        self._undrained.clear()
        return out

    def receive(self, segment: bytes, now_ms: int) -> None:
        """Take one segment from the peer. Never raises on bad input (rule 9)."""
        self._now = now_ms
        parsed = parse(segment)
        if parsed is None:
            self.stats.malformed += 1
            return
        st = self._streams.get(parsed[1])
        ok = self._on_unknown(parsed) if st is None else self._on_segment(st, parsed)
        if ok:
            self.stats.segments_in += 1
        else:
            self.stats.malformed += 1

    def tick(self, now_ms: int) -> None:
        self._now = now_ms
        for st in list(self._streams.values()):
            if now_ms - st.last_rx >= self.idle_timeout_ms:
                self._abort(st, "idle")
                continue
            if st.rack_at is not None and now_ms >= st.rack_at:
                self._detect_loss(st)
                self._push(st)
            if st.ack_at is not None and now_ms >= st.ack_at:
                self._emit_ack(st)
            if st.rto_at is not None:
                if now_ms >= st.rto_at:
                    self._on_timer(st)
            elif (st.phase == _OPEN and not st.segs
                  and now_ms - st.last_rx >= self._keepalive):
                self._probe(st)
        for sid in list(self._resetting):
            tomb = self._tombs.get(sid)
            if tomb is None or tomb.next_ms is None:
                self._resetting.discard(sid)
            elif now_ms >= tomb.next_ms:
                self._emit_raw(RST, sid, tomb.value, 0, tomb.reason.encode("utf-8"))
                tomb.tries += 1
                if tomb.tries >= self.max_retries:
                    tomb.next_ms = None
                else:
                    tomb.next_ms = now_ms + min(self._rto << min(tomb.tries, 16), self.rto_max_ms)
        self._expire_tombs()

    def next_deadline_ms(self) -> int | None:
        best: int | None = None
        for st in self._streams.values():
            d = st.last_rx + self.idle_timeout_ms
            if st.rto_at is not None:
                d = min(d, st.rto_at)
            elif st.phase == _OPEN and not st.segs:
                d = min(d, st.last_rx + self._keepalive)
            if st.ack_at is not None:
                d = min(d, st.ack_at)
            if st.rack_at is not None:
                d = min(d, st.rack_at)
            if best is None or d < best:
                best = d
        for sid in self._resetting:
            tomb = self._tombs.get(sid)
            if tomb is not None and tomb.next_ms is not None and (
                    best is None or tomb.next_ms < best):
                best = tomb.next_ms
        return best

    # --- incoming -----------------------------------------------------------------------

    def _on_unknown(self, p: _Parsed) -> bool:
        typ, sid, seq, ack, wnd, _blocks, payload = p
        tomb = self._tombs.get(sid)
        if tomb is not None and self._now >= tomb.expires_ms:
            self._drop_tomb(sid)
            tomb = None
        if typ == RST:
            self._emit_raw(ACK, sid, 0, seq + 1, b"")
        elif typ == ACK:
            if tomb is not None and tomb.kind == _T_RESET and ack == (tomb.value + 1) % _MOD:
                tomb.next_ms = None
                self._resetting.discard(sid)
        elif typ == OPEN_FAIL:
            pass
        elif tomb is not None:
            if tomb.kind == _T_CLOSED:
                if typ != OPEN:
                    self._emit_raw(ACK, sid, 0, tomb.value, b"")
            elif tomb.kind == _T_REFUSED and typ == OPEN:
                self._emit_raw(OPEN_FAIL, sid, 0, 0, tomb.reason.encode("utf-8"))
            else:
                self._emit_raw(RST, sid, tomb.value, 0, tomb.reason.encode("utf-8"))
        elif typ == OPEN:
            if sid & 1 == (0 if self.initiator else 1):
                return False  # an id of ours: never opened by the peer
            if len(self._streams) >= self.max_streams:
                self._emit_raw(OPEN_FAIL, sid, 0, 0, b"limit:streams")
                self._tombstone(sid, _T_REFUSED, "limit:streams", 0)
                return True
            st = _Stream(sid, payload.decode("utf-8"), False, _PENDING, self._now)
            st.peer_edge = wnd
            self._streams[sid] = st
            self._events.append(Opened(sid, st.target))
        else:
            self._emit_raw(RST, sid, 0, 0, b"unknown")
        return True

    def _on_segment(self, st: _Stream, p: _Parsed) -> bool:
        typ, sid, seq, ack, wnd, blocks, payload = p
        now = self._now
        if typ == OPEN:
            if st.local or payload.decode("utf-8") != st.target:
                return False
            st.last_rx = now
            if st.phase == _OPEN:
                self._emit(st, OPEN_OK, 0)
            return True
        if typ == RST:
            self._emit_raw(ACK, sid, 0, seq + 1, b"")
            self._flush_ready(st)
            self._events.append(Reset(sid, payload.decode("utf-8")))
            self._forget(st)
            return True
        if typ == OPEN_FAIL:
            if st.phase != _OPENING:
                return False
            self._events.append(Refused(sid, payload.decode("utf-8")))
            self._forget(st)
            return True
        if st.phase == _PENDING:
            return typ in (ACK, PING)  # nothing else comes before OPEN_OK
        ack_full = _unwrap(ack, st.snd_una)
        if ack_full > st.snd_nxt:
            return False
        dseq = _unwrap(seq, st.rcv_nxt)
        if typ in (DATA, FIN) and not self._data_fits(st, dseq, len(payload), typ == FIN):
            return False
        # Valid: from here on the segment changes state.
        if st.phase == _OPENING:
            st.phase = _OPEN
            st.rto_at = None
            st.retries = st.backoff = 0
            self._events.append(Accepted(sid))
        st.last_rx = now
        if st.probing:
            st.probing = False
            st.rto_at = None
        self._on_ack(st, typ, ack_full, wnd, blocks)
        if typ in (DATA, FIN):
            self._on_data(st, dseq, payload, typ == FIN)
        elif typ == PING:
            st.ack_now = True
        self._push(st)
        if st.ack_now:
            self._emit_ack(st)
        self._maybe_done(st)
        return True

    def _data_fits(self, st: _Stream, seq: int, length: int, fin: bool) -> bool:
        end = seq + length
        if st.fin_at is not None:
            return end <= st.fin_at and (not fin or end == st.fin_at)
        if not fin:
            return True
        if end < st.rcv_nxt:
            return False  # bytes beyond this FIN were delivered already
        return all(k + len(d) <= end for k, d in st.ooo.items())

    def _on_ack(self, st: _Stream, typ: int, ack: int, wnd: int,
                blocks: list[tuple[int, int]]) -> None:
        if ack < st.snd_una:
            return  # older than what we know
        edge = ack + wnd
        window_update = edge > st.peer_edge
        if window_update:
            st.peer_edge = edge
        segs = st.segs
        if ack > st.snd_una:
            i = 0
            while i < len(segs) and segs[i].seq + segs[i].length + segs[i].fin <= ack:
                s = segs[i]
                if not s.sacked:
                    self._delivered(st, s)
                i += 1
            del segs[:i]
            if segs and segs[0].seq < ack:  # the peer kept part of a segment
                cut = ack - segs[0].seq
                segs[0].seq = ack
                segs[0].length -= cut
            data_end = st.snd_una + len(st.buf)
            del st.buf[: min(ack, data_end) - st.snd_una]
            st.snd_una = ack
            st.dupacks = st.retries = st.backoff = 0
            st.rto_at = None
        elif segs:
            if typ == ACK and not window_update:
                st.dupacks += 1
                first = segs[0]
                if (st.dupacks == DUP_THRESH and not first.sacked
                        and self._now - first.sent_ms >= self._srtt8 // 8):
                    first.lost = True  # fast retransmit
        else:
            st.retries = 0  # nothing outstanding: the peer answered a probe, or just spoke
            if st.snd_una + len(st.buf) <= st.snd_nxt:
                st.backoff = 0  # no data waiting for the window: not a persist probe
        if blocks and segs:
            ranges = [(ack + lo, ack + hi) for lo, hi in blocks]
            lo_all = min(r[0] for r in ranges)
            for s in segs:
                if s.sacked or s.seq < lo_all:
                    continue
                top = s.seq + s.length + s.fin
                for lo, hi in ranges:
                    if lo <= s.seq and top <= hi:
                        s.sacked = True
                        s.lost = False
                        self._delivered(st, s)
                        break
        self._detect_loss(st)

    def _detect_loss(self, st: _Stream) -> None:
        """Rule 5: a segment sent before one that was acknowledged is lost once it is older
        than SRTT + 2 RTTVAR (a reordering allowance); after an RTO, at once."""
        st.rack_at = None
        if not st.rack_order:
            return
        now = self._now
        allowance = self._srtt8 // 8 + self._rttvar4 // 2 if self._srtt8 else self._rto
        for s in st.segs:
            if s.sacked or s.lost or s.order >= st.rack_order:
                continue
            due = s.sent_ms + allowance
            if s.order < st.lost_below or now >= due:
                s.lost = True
            elif st.rack_at is None or due < st.rack_at:
                st.rack_at = due

    def _delivered(self, st: _Stream, s: _Seg) -> None:
        if s.order > st.rack_order:
            st.rack_order = s.order
        age = self._now - s.sent_ms
        if s.tx == 1:
            self._rtt_sample(age)
        elif s.tx == 2 and age < self._min_rtt:
            # Karn's rule, refined: too early to answer the retransmission, so this answers
            # the first transmission (a spurious retransmission, or reordering): time that.
            self._rtt_sample(self._now - s.first_ms)
        if st.rto_order and s.order >= st.rto_order:
            st.lost_below = max(st.lost_below, st.rto_order)
            st.rto_order = 0

    def _on_data(self, st: _Stream, seq: int, payload: bytes, fin: bool) -> None:
        end = seq + len(payload)
        if fin:
            st.fin_at = end
        edge = st.rcv_nxt + self._window(st)
        if seq > st.rcv_nxt:  # out of order: hold what fits in the window, SACK it
            st.ack_now = True
            st.arrivals += 1
            data = payload[: edge - seq]
            old = st.ooo.get(seq, b"")
            grow = len(data) - len(old)
            if grow > 0 and st.ooo_bytes + grow <= self.recv_buffer:
                st.ooo[seq] = old = data
                st.ooo_bytes += grow
            if old:
                self._hold(st, seq, seq + len(old))
            if fin:
                self._hold(st, end, end + 1)
            return
        fresh = payload[st.rcv_nxt - seq: edge - seq]
        if fresh:
            self._deliver(st, fresh)
        filled = self._advance(st)
        if not fresh or filled or st.held:
            st.ack_now = True
        else:
            st.ack_pending += 1
            if st.ack_pending >= 2:
                st.ack_now = True
            elif st.ack_at is None:
                st.ack_at = self._now + ACK_DELAY_MS

    def _hold(self, st: _Stream, lo: int, hi: int) -> None:
        """Merge [lo, hi) into the sorted spans held out of order."""
        held = st.held
        i = bisect.bisect_left(held, lo, key=lambda b: b[0])
        if i and held[i - 1][1] >= lo:
            i -= 1
            span = held[i]
            span[1] = max(span[1], hi)
            span[2] = st.arrivals
        else:
            span = [lo, hi, st.arrivals]
            held.insert(i, span)
        while i + 1 < len(held) and held[i + 1][0] <= span[1]:
            span[1] = max(span[1], held[i + 1][1])
            del held[i + 1]

    def _advance(self, st: _Stream) -> bool:
        """Deliver held segments that are now in order (and the FIN); True if any."""
        filled = False
        held = st.held
        while True:
            d = st.ooo.pop(st.rcv_nxt, None)
            if d is not None:
                st.ooo_bytes -= len(d)
                self._deliver(st, d)
                filled = True
                continue
            if st.fin_at == st.rcv_nxt and not st.rx_fin:
                st.rcv_nxt += 1
                st.rx_fin = True
                st.ack_now = True
                self._queue_closed(st)
            while held and held[0][1] <= st.rcv_nxt:
                del held[0]
            if not held or held[0][0] > st.rcv_nxt:
                return filled
            # Odd segmentation: pieces starting below rcv_nxt; keep their tails at rcv_nxt.
            below = [k for k in st.ooo if k < st.rcv_nxt]
            if not below:  # nothing left under the span's start: trim it
                held[0][0] = st.rcv_nxt + 1
                continue
            for k in below:
                d = st.ooo.pop(k)
                st.ooo_bytes -= len(d)
                tail = d[st.rcv_nxt - k:]
                old = st.ooo.get(st.rcv_nxt, b"")
                if len(tail) > len(old):
                    st.ooo[st.rcv_nxt] = tail
                    st.ooo_bytes += len(tail) - len(old)

    def _deliver(self, st: _Stream, data: bytes) -> None:
        st.rcv_nxt += len(data)
        self.stats.bytes_in += len(data)
        if st.paused:
            st.ready += data
        else:
            self._events.append(Data(st.sid, data))
            st.queued += len(data)
            self._undrained.add(st.sid)

    def _queue_closed(self, st: _Stream) -> None:
        if st.rx_fin and not st.closed_queued and not st.paused:
            st.closed_queued = True
            self._events.append(Closed(st.sid))

    def _flush_ready(self, st: _Stream) -> None:
        if st.ready:
            self._events.append(Data(st.sid, bytes(st.ready)))
            st.ready.clear()

    def _maybe_done(self, st: _Stream) -> None:
        if (st.closed_queued and st.fin_seq is not None and st.snd_una == st.fin_seq + 1
                and st.sid in self._streams):
            self._forget(st)
            self._tombstone(st.sid, _T_CLOSED, "", st.rcv_nxt % _MOD)

    # --- outgoing -----------------------------------------------------------------------

    def _window(self, st: _Stream) -> int:
        return max(0, min(MAX_WINDOW, self.recv_buffer - st.queued - len(st.ready)))

    def _sack_blocks(self, st: _Stream, limit: int) -> list[tuple[int, int]]:
        """Held spans relative to rcv_nxt, the most recently grown first (so each is repeated
        in several ACKs, as in RFC 2018)."""
        base = st.rcv_nxt
        spans = sorted(st.held, key=lambda b: -b[2])
        return [(lo - base, min(hi - base, 0xFFFF)) for lo, hi, _ in spans
                if lo - base < 0xFFFF][:limit]

    def _emit(self, st: _Stream, typ: int, seq: int, payload: bytes = b"") -> None:
        wnd = self._window(st)
        blocks: list[tuple[int, int]] = []
        if st.held and typ not in (OPEN, OPEN_OK):
            blocks = self._sack_blocks(st, MAX_SACK_DATA if payload else MAX_SACK)
        parts = [HEADER.pack((VERSION << 4) | typ, len(blocks), st.sid, seq % _MOD,
                             st.rcv_nxt % _MOD, wnd, len(payload))]
        parts.extend(_BLOCK.pack(lo, hi) for lo, hi in blocks)
        parts.append(payload)
        st.adv_edge = st.rcv_nxt + wnd
        st.ack_pending = 0
        st.ack_at = None
        st.ack_now = False
        self.stats.segments_out += 1
        self._send(b"".join(parts))

    def _emit_ack(self, st: _Stream) -> None:
        self._emit(st, ACK, st.snd_nxt)

    def _emit_raw(self, typ: int, sid: int, seq: int, ack: int, payload: bytes) -> None:
        self.stats.segments_out += 1
        self._send(HEADER.pack((VERSION << 4) | typ, 0, sid, seq % _MOD, ack % _MOD, 0,
                               len(payload)) + payload)

    def _push(self, st: _Stream) -> None:
        """Retransmit lost segments, then send new data as the windows allow."""
        if st.phase != _OPEN:
            return
        segs = st.segs
        pipe = 0
        for s in segs:
            if s.sacked:
                continue
            if s.lost:
                self._retransmit(st, s)
            pipe += 1
        data_end = st.snd_una + len(st.buf)
        while pipe < self.window_segments:
            avail = data_end - st.snd_nxt
            if avail > 0:
                n = min(self.mss, avail, st.peer_edge - st.snd_nxt)
                if n <= 0 or (n < self.mss and n < avail and segs):
                    break  # wait for a window worth a full segment
                fin = st.fin_seq is not None and st.snd_nxt + n == st.fin_seq
            elif st.fin_seq is not None and st.snd_nxt == st.fin_seq:
                n = 0
                fin = True
            else:
                break
            off = st.snd_nxt - st.snd_una
            st.order += 1
            segs.append(_Seg(st.snd_nxt, n, fin, self._now, st.order, self._now))
            self._emit(st, FIN if fin else DATA, st.snd_nxt, bytes(st.buf[off:off + n]))
            st.snd_nxt += n + fin
            self.stats.bytes_out += n
            pipe += 1
        if st.rto_at is None and (segs or data_end > st.snd_nxt):
            st.rto_at = self._now + self._backed_off(st)  # retransmission or persist timer

    def _retransmit(self, st: _Stream, s: _Seg) -> None:
        off = s.seq - st.snd_una
        st.order += 1
        s.order = st.order
        s.sent_ms = self._now
        s.tx += 1
        s.lost = False
        self.stats.retransmits += 1
        self._emit(st, FIN if s.fin else DATA, s.seq, bytes(st.buf[off:off + s.length]))

    def _probe(self, st: _Stream) -> None:
        st.probing = True
        self._emit(st, PING, st.snd_nxt)
        st.rto_at = self._now + self._backed_off(st)

    def _on_timer(self, st: _Stream) -> None:
        st.retries += 1
        if st.retries > self.max_retries:
            self._abort(st, "timeout")
            return
        st.backoff += 1
        for _ in range(2 if st.retries >= 2 else 1):  # rule 5: twice from the 2nd expiry
            if st.phase == _OPENING:
                self._emit(st, OPEN, 0, st.target.encode("utf-8"))
                self.stats.retransmits += 1
            elif st.segs:
                first = next((s for s in st.segs if not s.sacked), st.segs[0])
                self._retransmit(st, first)
                st.rto_order = first.order
            else:
                self._probe(st)
        st.rto_at = self._now + self._backed_off(st)

    def _backed_off(self, st: _Stream) -> int:
        return min(self._rto << min(st.backoff, 16), self.rto_max_ms)

    def _rtt_sample(self, rtt: int) -> None:
        rtt = max(rtt, 1)
        self._min_rtt = min(self._min_rtt, rtt)
        if not self._srtt8:
            self._srtt8 = rtt * 8
            self._rttvar4 = rtt * 2
        else:
            delta = rtt - self._srtt8 // 8
            self._srtt8 += delta
            self._rttvar4 += abs(delta) - self._rttvar4 // 4
        rto = self._srtt8 // 8 + max(1, self._rttvar4)
        self._rto = max(RTO_MIN_MS, min(rto, self.rto_max_ms))

    # --- table --------------------------------------------------------------------------

    def _pending(self, stream_id: int) -> _Stream:
        st = self._streams.get(stream_id)
        if st is None or st.phase != _PENDING:
            raise StreamError("no stream waiting for an answer")
        return st

    def _abort(self, st: _Stream, reason: str) -> None:
        self._flush_ready(st)
        self._events.append(Reset(st.sid, reason))
        self._emit_raw(RST, st.sid, st.snd_nxt, st.rcv_nxt, reason.encode("utf-8"))
        self._forget(st)
        self._tombstone(st.sid, _T_RESET, reason, st.snd_nxt)

    def _forget(self, st: _Stream) -> None:
        self._streams.pop(st.sid, None)
        self._undrained.discard(st.sid)

    def _alloc_id(self) -> int:
        for _ in range(0x8000):
            sid = self._next_id
            self._next_id = (sid + 2) & 0xFFFF
            if sid not in self._streams and sid not in self._tombs:
                return sid
        raise StreamError("no free stream id")

    def _tombstone(self, sid: int, kind: int, reason: str, value: int) -> _Tomb:
        self._drop_tomb(sid)
        tomb = _Tomb(kind, reason, value, self._now + self.idle_timeout_ms)
        self._tombs[sid] = tomb
        while len(self._tombs) > 4 * self.max_streams + 64:
            self._drop_tomb(next(iter(self._tombs)))
        return tomb

    def _drop_tomb(self, sid: int) -> None:
        self._tombs.pop(sid, None)
        self._resetting.discard(sid)

    def _expire_tombs(self) -> None:
        while self._tombs:
            sid = next(iter(self._tombs))
            if self._now < self._tombs[sid].expires_ms:
                break
            self._drop_tomb(sid)
