"""State across restarts: the state file of a site.

What must outlive the process is each meter's `state()`: its counter trackers (published value and
last raw value of every meter counter, wrap and reset counts) and its integrated energy totals, the
integrated energy of each PMU stream, and the integrated energy of each virtual grid meter.
The file is JSON:

    {"format": "gridtap-state", "version": 1, "saved_at": 1767225600.0,
     "meters": {"<key>": <the meter's state()>, ...}}

Each meter is filed under a key made of everything that says which physical meter it is (namespace,
transport address, unit id, profile, invert; for a PMU: namespace, transport address, stream
IDCODE, PMU block, invert), and the meter checks the state's identity and channel layout again
when it restores it: after a change to the site file, one meter's counters are never
applied to another. Saved states whose meter is no longer in the site are kept in the file, so
commenting a meter out for a while does not lose its counters.

Saving is atomic: the new content goes to a temporary file beside the state file, is flushed to
disk (fsync), renamed over the old file, and the directory is flushed too, so after a crash or a
power cut the file is the old one or the new one, never a mix. A file that cannot be used (not
JSON, not a gridtap state file, another version) is set aside under a new name that never
overwrites anything, with a warning naming it, and the site starts afresh.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from gridtap.errors import GridtapError

__all__ = [
    "FORMAT",
    "VERSION",
    "HasState",
    "SiteState",
    "StateFile",
    "StateFileError",
    "check_owner",
    "meter_key",
    "pmu_key",
    "virtual_meter_key",
]

log = logging.getLogger(__name__)

FORMAT = "gridtap-state"
VERSION = 1


class StateFileError(GridtapError, OSError):
    """The state file (or its folder) cannot be read or written. `why`: the reason alone."""

    def __init__(self, message: str, *, why: str = "") -> None:
        super().__init__(message)
        self.why = why or message


class HasState(Protocol):
    """A data source whose state survives restarts (ModbusMeter, PmuMeter, VirtualGridMeter)."""

    def state(self) -> Mapping[str, Any] | None: ...

    def restore_state(self, state: Mapping[str, Any]) -> None: ...


def check_owner(
    state: object, identity: Mapping[str, Any], parts: Sequence[str], owner: str, kind: str
) -> None:
    """Refuse a saved state that is not this source's, before anything is restored: ValueError
    (naming `owner`, a `kind` such as "meter" or "PMU") unless `state` has exactly the keys of
    `identity` and `parts`, each identity value equal to this source's and of its type, and each
    part a table."""
    keys = {*identity, *parts}
    if not isinstance(state, Mapping) or set(state) != keys:
        raise ValueError(f"{owner}: expected a {kind} state with keys {sorted(keys)}, got {state!r:.200}")
    for key, mine in identity.items():
        if state[key] != mine or type(state[key]) is not type(mine):
            raise ValueError(f"{owner}: the state is of {key} {state[key]!r}, this {kind}'s is {mine!r}")
    for part in parts:
        if not isinstance(state[part], Mapping):
            raise ValueError(f"{owner}: state {part} is {state[part]!r:.100}, expected a dict")


def meter_key(namespace: str, address: str, unit_id: int, profile: str, invert: bool) -> str:
    """The key of one physical meter in the state file, e.g.
    `grid tcp://192.168.1.50:502 unit 1 sdm630` (` inverted` appended for a reversed CT)."""
    return f"{namespace} {address} unit {unit_id} {profile}" + (" inverted" if invert else "")


def pmu_key(namespace: str, address: str, idcode: int, pmu: int | str | None, invert: bool) -> str:
    """The key of one PMU stream in the state file, e.g. `grid_pmu pmu tcp://10.0.0.7:4712 idcode 12`
    (` block <IDCODE or 'station'>` appended for a chosen PMU of a multi-PMU stream, ` inverted`
    for a reversed CT)."""
    block = "" if pmu is None else f" block {pmu!r}"
    return f"{namespace} pmu {address} idcode {idcode}{block}" + (" inverted" if invert else "")


def virtual_meter_key(namespace: str, load: str, pv: str | None, battery: str | None) -> str:
    """The key of a virtual grid meter: its namespace and the devices it sums."""
    return f"{namespace} virtual load={load} pv={pv} battery={battery}"


def _fsync_dir(directory: Path) -> None:
    # the rename is durable only once the directory entry is on disk
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # e.g. a platform that cannot open directories: the rename is still atomic
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class StateFile:
    """Reading, atomic writing and setting aside of one state file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # saves may come from a worker thread and at shutdown

    def load(self) -> dict[str, Any]:
        """The saved meter states by key: {} when there is no file yet, or when the file could not
        be used and was set aside. StateFileError when it exists but cannot be read."""
        self._remove_stale_temporaries()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            log.info("state file %s does not exist yet: starting afresh", self.path)
            return {}
        except OSError as e:
            raise StateFileError(f"state file {self.path}: cannot read: {e.strerror}") from None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            self._reject(f"not valid JSON ({e})")
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            self._reject(f'not a gridtap state file (no "format": "{FORMAT}")')
            return {}
        if data.get("version") != VERSION:
            self._reject(f"version {data.get('version')!r}, this gridtap reads version {VERSION}")
            return {}
        meters = data.get("meters")
        if not isinstance(meters, dict) or not all(isinstance(v, dict) for v in meters.values()):
            self._reject('"meters" is not a table of meter states')
            return {}
        return meters

    def _remove_stale_temporaries(self) -> None:
        """Temporary files left by a process killed while saving (their pid is gone)."""
        for tmp in self.path.parent.glob(f".{self.path.name}.tmp-*"):
            pid = tmp.name.rpartition("-")[2]
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    log.info("removed %s, left by a process killed while saving", tmp)
            except OSError:
                pass  # alive, under another user

    def _reject(self, reason: str) -> None:
        try:
            kept = self.set_aside(move=True)
        except StateFileError as e:
            raise StateFileError(f"state file {self.path}: unusable ({reason}) and {e.why}") from None
        log.warning(
            "state file %s is unusable: %s; moved aside to %s, starting afresh", self.path, reason, kept
        )

    def set_aside(self, *, move: bool) -> Path:
        """Copy (or move) the state file to `<name>.bad-<UTC time>[-n]`, a name that is not taken:
        nothing is ever overwritten. Returns the new name."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        try:
            data = self.path.read_bytes()
            for n in range(1, 1000):
                target = self.path.with_name(f"{self.path.name}.bad-{stamp}" + (f"-{n}" if n > 1 else ""))
                try:
                    # "x": fails if the name exists, so an earlier copy is never replaced
                    with open(target, "xb") as f:
                        f.write(data)
                        f.flush()
                        os.fsync(f.fileno())
                except FileExistsError:
                    continue
                if move:
                    self.path.unlink()
                _fsync_dir(self.path.parent)
                return target
        except OSError as e:
            why = f"cannot be set aside: {e.strerror or e}"
            raise StateFileError(f"state file {self.path}: {why}", why=why) from None
        why = "cannot be set aside: no free name"
        raise StateFileError(f"state file {self.path}: {why}", why=why)

    def save(self, meters: Mapping[str, Any]) -> None:
        """Write atomically: temporary file, fsync, rename over the state file, fsync the folder.
        StateFileError if that fails (the old file is then untouched)."""
        data = {"format": FORMAT, "version": VERSION, "saved_at": time.time(), "meters": dict(meters)}
        try:
            text = json.dumps(data, allow_nan=False, indent=1, sort_keys=True)
        except ValueError as e:  # a NaN or inf: a bug upstream, refuse rather than write bad state
            raise StateFileError(f"state file {self.path}: state is not serialisable: {e}") from None
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        with self._lock:
            try:
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except OSError as e:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise StateFileError(f"state file {self.path}: cannot write: {e.strerror or e}") from None
            _fsync_dir(self.path.parent)


class SiteState:
    """The state of a site's meters in one state file: restored at start, saved periodically and
    at shutdown. `sources` maps each meter's `meter_key(...)` to the meter."""

    def __init__(self, path: str | Path, sources: Mapping[str, HasState]) -> None:
        self.file = StateFile(path)
        self.sources = dict(sources)
        self._kept: dict[str, Any] = {}  # saved states of meters that are not in this site
        self._seq = 0
        self._written = 0
        self._order = threading.Lock()

    @property
    def path(self) -> Path:
        return self.file.path

    def restore(self) -> int:
        """Give each meter its saved state; returns how many were restored. A state a meter refuses
        (it does not fit: a changed profile, a crafted file) is reported and the file copied aside
        first, so what it held is not lost when the next save replaces it."""
        saved = self.file.load()
        restored, refused = 0, []
        for key, source in self.sources.items():
            entry = saved.get(key)
            if entry is None:
                continue
            try:
                source.restore_state(entry)
            except (ValueError, TypeError) as e:
                refused.append(key)
                log.warning("state file %s: the saved state of %s was not restored: %s", self.path, key, e)
            else:
                restored += 1
        if refused:
            kept = self.file.set_aside(move=False)
            log.warning("state file %s: kept a copy of the states not restored in %s", self.path, kept)
        self._kept = {k: v for k, v in saved.items() if k not in self.sources}
        if self._kept:
            log.info(
                "state file %s: keeping the saved state of %d meter(s) not in this site: %s",
                self.path,
                len(self._kept),
                ", ".join(sorted(self._kept)),
            )
        if restored:
            log.info("state file %s: restored the state of %d meter(s)", self.path, restored)
        return restored

    def collect(self) -> tuple[int, dict[str, Any]]:
        """The states to save now, numbered: call it where the meters run (their event loop)."""
        meters = dict(self._kept)
        for key, source in self.sources.items():
            st = source.state()
            if st is not None:
                meters[key] = st
        self._seq += 1
        return self._seq, meters

    def write(self, seq: int, meters: Mapping[str, Any]) -> None:
        """Write what `collect` returned (may run in a worker thread). An older collection than
        one already written is dropped, so a slow periodic save never replaces the final one."""
        with self._order:
            if seq <= self._written:
                return
            self.file.save(meters)
            self._written = seq

    def save(self) -> None:
        self.write(*self.collect())
