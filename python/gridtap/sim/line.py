"""A simulated RS485 line: two pseudo-terminals joined by a relay that charges wire time.

What one end writes reaches the other end when it would have finished crossing the wire at the
line's baud rate (bytes × bits per character / baud, 11 bits as Modbus RTU counts them), one
transmission at a time, since an RS485 pair is half duplex. A meter's reply starts no sooner than
3.5 characters after the request ended (1.75 ms above 19200 baud): a real meter only knows the
request is complete after that silence (Modbus over Serial Line §2.5.1.1). Each end is a serial device path that
pyserial and pymodbus open like a real port, so a pymodbus RTU server on one end and the adapter
on the other speak real RTU framing with real timing, with no socat and no hardware.

Faults, changeable while running: `silent_units` (requests to these unit IDs are lost, as with a
meter that is off), `reply_hook` (replaces what the meters' end sends: garbage, late or altered
replies) and `unplug()` / `replug()` (the adapter's device path disappears, as a USB adapter
pulled out does, and comes back).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from gridtap.link import frame_gap

__all__ = ["PtyLine"]

ReplyHook = Callable[[bytes], list[tuple[float, bytes]]]
"""bytes the meters' end sent -> [(extra delay in s, bytes to put on the line instead), ...]"""


class _Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        # raw from the start: no echo or line editing before the first user configures the port
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class PtyLine:
    """Two device paths, `meters_port` and `master_port`, joined like an RS485 line.

    `baudrate=None` delivers bytes at once (a plain pty pair). `link_dir` puts stable symlinks
    (`meters`, `master`) there, which survive `unplug()`/`replug()` as a udev name would. With
    `record = []`, the traffic is logged there: ("request", time the master's bytes were read,
    bytes) and ("reply", time the meters' bytes were delivered to the master, bytes), monotonic s.
    """

    def __init__(
        self, baudrate: int | None = 9600, *, bits_per_char: int = 11, link_dir: str | Path | None = None
    ) -> None:
        self.baudrate = baudrate
        self.bits_per_char = bits_per_char
        self.gap = frame_gap(baudrate, bits_per_char) if baudrate else 0.0
        self.silent_units: set[int] = set()
        self.reply_hook: ReplyHook | None = None
        self.record: list[tuple[float, str, bytes]] | None = None  # set to [] to log the traffic
        self.bytes_carried = 0
        self.busy_seconds = 0.0  # time the wire was carrying bytes
        self._link_dir = Path(link_dir) if link_dir is not None else None
        self._meters = _Pty()
        self._master: _Pty | None = _Pty()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._line_free = 0.0
        self._queue: list[tuple[float, int, int, bytes]] = []  # (due, seq, destination fd, data)
        self._seq = 0
        self._thread = threading.Thread(target=self._run, name="PtyLine relay", daemon=True)
        self._links()
        self._thread.start()

    # --- paths ----------------------------------------------------------------------------------

    @property
    def meters_port(self) -> str:
        return str(self._link_dir / "meters") if self._link_dir else self._meters.path

    @property
    def master_port(self) -> str:
        if self._link_dir:
            return str(self._link_dir / "master")
        assert self._master is not None, "the master end is unplugged"
        return self._master.path

    def _links(self) -> None:
        if self._link_dir is None:
            return
        for name, pty in (("meters", self._meters), ("master", self._master)):
            link = self._link_dir / name
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            if pty is not None:
                link.symlink_to(pty.path)

    def wire_time(self, n_bytes: int) -> float:
        return 0.0 if not self.baudrate else n_bytes * self.bits_per_char / self.baudrate

    # --- faults ---------------------------------------------------------------------------------

    def unplug(self) -> None:
        """The master's device goes away: its open port fails and its path is gone."""
        with self._lock:
            old, self._master = self._master, None
            self._queue.clear()
        if old is not None:
            old.close()
        self._links()
        self._poke()

    def replug(self) -> None:
        """A new device appears at the master's path (a new pty behind the same symlink)."""
        with self._lock:
            if self._master is None:
                self._master = _Pty()
        self._links()
        self._poke()

    # --- relay ----------------------------------------------------------------------------------

    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _send(self, now: float, dest: int, data: bytes, extra: float = 0.0, gap: float = 0.0) -> None:
        start = max(now + extra, self._line_free + gap)
        wire = self.wire_time(len(data))
        self._line_free = start + wire
        self.bytes_carried += len(data)
        self.busy_seconds += wire
        heapq.heappush(self._queue, (start + wire, self._seq, dest, data))
        self._seq += 1

    def _run(self) -> None:
        while not self._stop:
            with self._lock:
                master = self._master
                due = self._queue[0][0] if self._queue else None
            fds = [self._wake_r, self._meters.master] + ([master.master] if master else [])
            wait = None if due is None else max(0.0, due - time.monotonic())
            try:
                ready, _, _ = select.select(fds, [], [], wait)
            except (OSError, ValueError):
                continue  # the master end was closed under us by unplug()
            now = time.monotonic()
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if fd == self._wake_r or not data:
                    continue
                with self._lock:
                    if master is not None and fd == master.master:
                        if self.record is not None:
                            self.record.append((now, "request", data))
                        if data[0] not in self.silent_units:
                            self._send(now, self._meters.master, data)
                    elif self._master is not None:
                        hook = self.reply_hook
                        for extra, out in hook(data) if hook else [(0.0, data)]:
                            self._send(now, self._master.master, out, extra, self.gap)
            self._deliver()

    def _deliver(self) -> None:
        while True:
            with self._lock:
                if not self._queue or self._queue[0][0] > time.monotonic():
                    return
                _, _, dest, data = heapq.heappop(self._queue)
                live = {self._meters.master} | ({self._master.master} if self._master else set())
            if dest in live:
                if self.record is not None and dest != self._meters.master:
                    # stamped before the write: the master may act on the bytes at once
                    self.record.append((time.monotonic(), "reply", data))
                with contextlib.suppress(OSError):
                    os.write(dest, data)

    def close(self) -> None:
        self._stop = True
        self._poke()
        self._thread.join(5)
        self._meters.close()
        if self._master is not None:
            self._master.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        if self._link_dir is not None:
            for name in ("meters", "master"):
                with contextlib.suppress(FileNotFoundError):
                    (self._link_dir / name).unlink()

    def __enter__(self) -> PtyLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
