"""Serial link to a USB-attached bulb: framed frames (framing.py) over a pyserial port, on asyncio.

Rules kept here:
1. There is one peer, whose link address is b"serial:" + port. Frames from it reach
   on_frame(frame, link_src, rssi_dbm) with rssi_dbm 0 (a wire has no RSSI). on_frame must
   not raise; the core's receive() never does.
2. The port is opened with an exclusive lock (flock), so two gateways cannot share it.
   Nothing blocks: the port is non-blocking, reads happen in a loop.add_reader callback, and
   send() writes what the port takes now and queues the rest behind loop.add_writer. The
   queue is bounded (tx_buffer_limit_bytes): a frame that does not fit is dropped whole and
   counted as tx_dropped, never cut.
3. LinkError (framing.py) is the only error raised to the caller: opening a missing port or
   one that is not a serial device, send() before open() or after close(), to a foreign
   link address, or with a frame that is empty or over max_frame_bytes. A read or write
   failure after opening (unplugged bulb) closes the link and health() names the reason;
   until the next open(), send() then drops frames and counts them as tx_dropped, so a
   driver executing the core's actions is not interrupted.
4. health() is a short status string. It warns when the port keeps delivering bytes but no
   frame decoded from the last wrong_mode_bytes of them: the bulb is likely at its REPL.
"""

from __future__ import annotations

import asyncio
import errno
import os
import termios
from collections.abc import Callable

import serial

from .framing import Deframer, LinkError, encode

WRONG_MODE_BYTES = 4096
TX_BUFFER_LIMIT_BYTES = 65536
_READ_CHUNK_BYTES = 65536

FrameHandler = Callable[[bytes, bytes, int], None]


class SerialLink:
    """A mesh link over one serial port. Call `await open()`, then `send()`; `close()` ends it."""

    def __init__(
        self,
        link_id: int,
        port: str,
        on_frame: FrameHandler,
        baudrate: int = 921600,
        max_frame_bytes: int = 1500,
    ) -> None:
        self.link_id = link_id
        self.port = port
        self.baudrate = baudrate
        self.max_frame_bytes = max_frame_bytes
        self.peer_addr = b"serial:" + port.encode()
        self.tx_buffer_limit_bytes = TX_BUFFER_LIMIT_BYTES
        self.wrong_mode_bytes = WRONG_MODE_BYTES
        self._on_frame = on_frame
        self._deframer = Deframer(max_frame_bytes)
        self._serial: serial.Serial | None = None
        self._fd = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tx = bytearray()
        self._writing = False
        self._down_reason: str | None = None
        self._counts = {"frames_out": 0, "bytes_in": 0, "bytes_out": 0, "tx_dropped": 0}

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    @property
    def stats(self) -> dict[str, int]:
        """Counters: frames_in/out, crc_errors, framing_errors, oversize, bytes, tx queue."""
        d = self._deframer
        return {
            "frames_in": d.frames,
            "crc_errors": d.crc_errors,
            "framing_errors": d.framing_errors,
            "oversize": d.oversize,
            **self._counts,
            "tx_queued_bytes": len(self._tx),
        }

    @property
    def wrong_mode(self) -> bool:
        """True when the last wrong_mode_bytes received held no valid frame."""
        return self._deframer.bytes_since_frame >= self.wrong_mode_bytes

    def health(self) -> str:
        """"ok", "closed", the reason the port failed, or the wrong-mode warning (rule 4)."""
        if self._down_reason is not None:
            return f"serial port {self.port} failed: {self._down_reason}"
        if self._serial is None:
            return "closed"
        if self.wrong_mode:
            return (
                f"serial port {self.port} receives data but no mesh frames: "
                "is the bulb running the mesh firmware (not the REPL)?"
            )
        return "ok"

    async def open(self) -> None:
        """Open the port and start reading. Raises LinkError naming the port and the reason."""
        if self._serial is not None:
            raise LinkError(f"serial port {self.port} is already open")
        try:
            port = serial.Serial(self.port, self.baudrate, timeout=0, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as e:
            raise LinkError(f"cannot open serial port {self.port}: {_reason(e)}") from e
        self._loop = asyncio.get_running_loop()
        self._serial = port
        self._fd = port.fileno()
        self._down_reason = None
        self._loop.add_reader(self._fd, self._on_readable)

    def send(self, link_addr: bytes | None, frame: bytes) -> None:
        """Send one frame to the bulb (link_addr None or this link's peer_addr)."""
        if self._serial is None:
            if self._down_reason is not None:
                self._counts["tx_dropped"] += 1  # the bulb went away: not the caller's fault
                return
            raise LinkError(f"serial port {self.port} is not open")
        if link_addr is not None and link_addr != self.peer_addr:
            raise LinkError(f"serial port {self.port} has no peer {link_addr!r}")
        if len(frame) > self.max_frame_bytes:
            raise LinkError(f"frame of {len(frame)} bytes exceeds {self.max_frame_bytes}")
        wire = encode(frame)
        if len(self._tx) + len(wire) > self.tx_buffer_limit_bytes:
            self._counts["tx_dropped"] += 1
            return
        self._counts["frames_out"] += 1
        self._tx += wire
        if not self._writing:
            self._flush()

    def close(self) -> None:
        """Stop reading and writing and release the port; safe to call more than once."""
        self._down_reason = None
        port, self._serial = self._serial, None
        if port is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        self._writing = False
        self._tx.clear()
        self._fd = -1
        port.close()

    # --- event loop callbacks -----------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, _READ_CHUNK_BYTES)
        except BlockingIOError:
            return
        except OSError as e:
            self._fail(_reason(e))
            return
        if not data:
            self._fail("end of file (device gone)")
            return
        self._counts["bytes_in"] += len(data)
        for frame in self._deframer.feed(data):
            if self._serial is None:
                return  # on_frame closed the link
            self._on_frame(frame, self.peer_addr, 0)

    def _flush(self) -> None:
        try:
            written = os.write(self._fd, self._tx)
        except BlockingIOError:
            written = 0
        except OSError as e:
            self._fail(_reason(e))
            return
        self._counts["bytes_out"] += written
        del self._tx[:written]
        if self._tx and not self._writing and self._loop is not None:
            self._writing = True
            self._loop.add_writer(self._fd, self._flush)
        elif not self._tx and self._writing and self._loop is not None:
            self._writing = False
            self._loop.remove_writer(self._fd)

    def _fail(self, reason: str) -> None:
        self.close()
        self._down_reason = reason


_HINTS = {
    errno.ENOENT: "no such device (is the bulb plugged in?)",
    errno.ENOTTY: "not a serial device",
    errno.EISDIR: "not a serial device (a directory)",
    errno.EACCES: "permission denied (is the user in the dialout group?)",
    errno.EBUSY: "device busy (is another program using the port?)",
    errno.EAGAIN: "port locked by another program (another gateway?)",
}


def _reason(e: BaseException) -> str:
    """A short reason from pyserial's error or the OS error beneath it."""
    for cause in (e.__cause__, e.__context__, e):
        if isinstance(cause, serial.SerialException) and cause is not e:
            continue
        code = cause.args[0] if cause is not None and cause.args else None
        if isinstance(code, int) and code in _HINTS:
            return _HINTS[code]
        if isinstance(cause, (OSError, termios.error)) and len(cause.args) == 2:
            return str(cause.args[1])
    return str(e) or type(e).__name__
