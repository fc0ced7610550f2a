"""Type stubs and documentation of the compiled core (`gridtap._core`)."""

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

class InputError(ValueError):
    """Input the core cannot accept: wrong lengths or types, non-finite or out-of-order values."""

class InternalError(RuntimeError):
    """A bug in the core (a Rust panic) surfaced as an exception instead of an abort."""

def decode_values(
    registers: npt.NDArray[np.uint16], dtype: str, word_order: str = "ABCD", scale: float = 1.0
) -> npt.NDArray[np.float64]:
    """Decode a run of equally typed values from uint16 registers (any shape, read row-major).

    dtype: int16, uint16, int32, uint32, int64, uint64, float32, float64.
    word_order: ABCD (high word first), CDAB (low word first), BADC (bytes swapped in each word),
    DCBA (little-endian). The register count must be a whole number of values.
    """

def encode_value(
    value: float, dtype: str, word_order: str = "ABCD", scale: float = 1.0
) -> npt.NDArray[np.uint16]:
    """The registers holding `value / scale` in `dtype` and `word_order`; error if it does not fit."""

def _panic_for_test() -> None: ...

CHANNEL_SLOTS: list[str]

class CompiledProfile:
    """A profile's register map, checked and compiled for the per-frame kernels. Built by
    `gridtap.profiles.load(...)`; users rarely construct it directly."""

    def __init__(
        self,
        frame_length: int,
        blocks: list[tuple[int, int]],
        fields: list[tuple[str, int, str, str, float, int | None, list[str], bool, bool, float, float, int]],
        apparent_power: str | None = None,
    ) -> None:
        """fields: (channel, frame offset, dtype, word_order, scale, scale-factor offset or None,
        sentinels, negate, abs, min, max, block). Raises InputError for fields outside the frame
        or their block, and for overlapping fields."""
    @property
    def frame_length(self) -> int: ...
    @property
    def channels(self) -> list[str]:
        """Standard channels a pipeline produces (read from the meter or derived)."""
    @property
    def meter_channels(self) -> list[str]: ...
    def channel_blocks(self, invert: bool = False) -> list[tuple[str, list[int]]]:
        """(channel, indices of the read blocks its value depends on) for each produced channel;
        with invert the import and export counters come from each other's registers."""
    @property
    def apparent_power(self) -> str:
        """How ApparentPower is formed: "arithmetic" (Σ S_i), "vector" (√(P²+Q²)) or "meter"."""

def decode(
    profile: object, registers: npt.NDArray[np.uint16], invert: bool = False
) -> dict[str, npt.NDArray[np.float64]]:
    """Stateless decode of one frame (1-D) or frames × registers (2-D) into standard channels
    (signs normalised, totals, S, PF, imbalance; no RoCoF or integrated energy). NaN = no valid
    value (sentinel, NaN, out of physical range)."""

class ChannelValues(Mapping[str, float | None]):
    """One frame's standard channels, as `MeterPipeline.push` returns them: a read-only mapping
    of channel name → value (None = no valid value). The values stay in one Rust array; Python
    objects are made only for what is read. `to_dict()` gives a plain dict."""

    def __getitem__(self, key: str) -> float | None: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def to_dict(self) -> dict[str, float | None]: ...

class MeterPipeline:
    """Registers → standard channels, frame by frame: decode, sign normalisation, aggregation,
    RoCoF (where the meter has none) and energy (integrated where the meter has no counters;
    meter counters kept monotonic across wraps and resets). Any split of the same frames into
    push/push_many calls gives identical results."""

    def __init__(
        self,
        profile: object,
        invert: bool = False,
        *,
        rocof_window: float = 0.5,
        rocof_method: str = "least_squares",
        rocof_smoothing: float = 0.0,
        max_gap: float = 60.0,
    ) -> None:
        """profile: a gridtap Profile or CompiledProfile. invert: a reversed CT (flips P and Q,
        swaps the import/export counters)."""
    def push(
        self, timestamp: float, registers: npt.NDArray[np.uint16], block_ok: list[bool] | None = None
    ) -> ChannelValues:
        """One frame: a read-only mapping {channel: value, or None where there is no valid value}.
        block_ok marks read blocks that failed. Timestamps must increase; on InputError nothing
        changes."""
    def push_many(
        self,
        timestamps: npt.NDArray[np.float64],
        registers: npt.NDArray[np.uint16],
        block_ok: list[bool] | None = None,
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Many frames (n × frame_length): {channel: float64 array}, NaN where invalid."""
    @property
    def channels(self) -> list[str]: ...
    @property
    def invert(self) -> bool: ...
    @property
    def frame_length(self) -> int: ...
    @property
    def last_timestamp(self) -> float | None: ...
    @property
    def counter_wraps(self) -> int: ...
    @property
    def counter_resets(self) -> int: ...
    @property
    def sources(self) -> dict[str, str]:
        """Where each aggregated channel's value came from in the latest frame pushed (empty
        before the first): {channel: source} for ActivePower, ReactivePower, ApparentPower,
        ApparentPower_Lx, PowerFactor and PowerFactor_Lx (those the pipeline produces).

        Sources: "meter" (the meter's own register for the channel), "phases" (the sum of the
        phases), "vector" (√(P² + Q²)), "ratio" (PF = P/S) or "none" (no valid value).
        Each frame takes the first source that has a valid value:
        - ActivePower / ReactivePower: the meter's total register, else the sum of the phases
          (only when every phase the meter reads is valid).
        - ApparentPower: as `CompiledProfile.apparent_power` says ("arithmetic": Σ of the phases,
          else the meter's total; "meter": the meter's total, else Σ of the phases; "vector":
          √(P² + Q²), else the meter's total).
        - ApparentPower_Lx: the meter's register, or √(P_x² + Q_x²) where the meter has none.
        - PowerFactor(_Lx): P/S with the S of that frame; without a valid S, the magnitude of the
          meter's PF register signed by P (a PF register's own sign is never used)."""
    @property
    def source_counts(self) -> dict[str, dict[str, int]]:
        """{channel: {source: frames}} since the pipeline was created (sources as in `sources`),
        for spotting a meter whose register goes missing now and then."""
    def state(self) -> dict[str, Any]:
        """What must survive a restart, as a JSON-serialisable dict: each meter counter's published
        value, last raw value and span (`counters`), the integrated totals in W·s (`integrated`,
        exact to the bit), the counter wrap and reset counts, and the layout it belongs to
        (`channels`, `invert`). RoCoF history is not kept."""
    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Continue from `state()` of a pipeline over the same profile and invert. The state is
        checked first and nothing changes on InputError: a different channel layout or counter
        span, a counter where this pipeline integrates (or the reverse), a value that is not
        finite and >= 0, a raw value beyond its counter's span, or a total below what this
        pipeline already published (energy never goes backwards). The interval across a restart
        is not integrated; a meter counter lower than its saved raw value counts as a reset."""

# ---- signal-processing kernels (RoCoF, loss-of-mains trip, energy, counters): begin ----

class RocofEstimator:
    """Streaming rate of change of frequency (Hz/s) from a timestamped frequency series.

    Works at any rate from 1 Hz polling to 1000 frames/s, with jittered epoch timestamps.
    Output is bit-identical for any chunking of the same samples.

    method:
      "least_squares" (default): slope of the least-squares line through the samples of the last
        `window` seconds (always at least the last 2 samples). Noise σ ≈ σ_f/sqrt(Σ(t − t̄)²).
      "window_average": (f_newest − f_oldest)/(t_newest − t_oldest) over the window, the grid
        codes' "mean RoCoF over 1 s / 2 s"; exact on ramps.
    A sample belongs to the window while its age is at most window + 1/4 of the newest sample
    interval (so a window of k sample periods keeps k + 1 samples despite jitter).
    smoothing: time constant (s) of an optional first-order lag after the estimator (0 = off),
      discretised with the actual sample interval.

    Output is NaN (never 0) until the history spans the window. The estimate returned with the
    sample at time t stands for time t − group_delay (the middle of the window): compare it with
    the true RoCoF there, as IEEE C37.118 aligns estimates with their reported timestamps.
    """

    def __init__(
        self, window: float = 0.5, method: str = "least_squares", smoothing: float = 0.0
    ) -> None: ...
    def update(
        self, timestamps: npt.NDArray[np.float64], frequency: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """RoCoF (Hz/s) for each sample. timestamps: epoch seconds, finite, strictly increasing
        (also past the previous chunk); frequency: Hz, finite; both 1-D float64 of equal length.
        Raises InputError (a ValueError) and changes nothing on bad input."""
    @property
    def window(self) -> float: ...
    @property
    def method(self) -> str: ...
    @property
    def smoothing(self) -> float: ...
    @property
    def group_delay(self) -> float:
        """Seconds from the newest sample to the instant the estimate stands for: window/2 + smoothing."""
    @property
    def last_timestamp(self) -> float | None: ...

class RocofTrip:
    """Definite-time loss-of-mains trip on a RoCoF series: trips when |RoCoF| >= threshold (Hz/s)
    has held continuously for at least `delay` seconds (GB: 1 Hz/s for 500 ms). NaN (no estimate)
    breaks the persistence. The trip latches until reset()."""

    def __init__(self, threshold: float, delay: float) -> None: ...
    def update(
        self, timestamps: npt.NDArray[np.float64], rocof: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        """Whether the trip condition holds at each sample. rocof: finite or NaN."""
    def reset(self) -> None:
        """Clear the latch. A condition still persisting keeps its start time and trips again."""
    @property
    def tripped(self) -> bool: ...
    @property
    def trip_time(self) -> float | None:
        """Timestamp of the sample at which it first tripped since the last reset, else None."""
    @property
    def threshold(self) -> float: ...
    @property
    def delay(self) -> float: ...
    @property
    def last_timestamp(self) -> float | None: ...

class EnergyIntegrator:
    """Import/export energy integrated from power: trapezoids (exact on linear ramps), import
    (p > 0) and export (p < 0) accumulated separately, an interval whose power changes sign split
    at the interpolated zero crossing. Intervals longer than `max_gap` seconds are not integrated
    but counted (gap_count, gap_seconds). compensated=True uses Neumaier-compensated sums.
    Results are bit-identical for any chunking.

    With 2-D power (samples × phases) each phase has its own accumulator (phase-wise accounting,
    as per-phase registers do); import_kwh/export_kwh are the sums over the phases.
    """

    def __init__(self, max_gap: float = 60.0, compensated: bool = True) -> None: ...
    def update(
        self,
        timestamps: npt.NDArray[np.float64],
        power_w: npt.NDArray[np.float64],
        reactive_var: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Integrate a chunk. power_w (W, + import) is 1-D (total) or 2-D (samples × phases), the
        phase count fixed by the first chunk; reactive_var (VAR, + inductive), if given, has the
        same shape. Everything is checked before anything accumulates: on InputError nothing
        changes."""
    @property
    def import_kwh(self) -> float: ...
    @property
    def export_kwh(self) -> float: ...
    @property
    def import_kwh_phases(self) -> list[float]: ...
    @property
    def export_kwh_phases(self) -> list[float]: ...
    @property
    def reactive_import_kvarh(self) -> float:
        """Integrated from positive (inductive) reactive power."""
    @property
    def reactive_export_kvarh(self) -> float:
        """Integrated from negative (capacitive) reactive power."""
    @property
    def gap_count(self) -> int: ...
    @property
    def gap_seconds(self) -> float: ...
    @property
    def max_gap(self) -> float: ...
    @property
    def compensated(self) -> bool: ...
    @property
    def last_timestamp(self) -> float | None: ...
    def state(self) -> dict[str, list[dict[str, float | int]]]:
        """The totals of each phase, {"active": [...], "reactive": [...]}, in W·s (exact), with the
        gap counts: JSON-serialisable, to continue after a restart."""
    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Continue from `state()`: a fresh integrator takes its phases; one already started must
        have as many. The interval across a restart is not integrated. Refused (InputError, nothing
        changes) for totals that are not finite and >= 0 or below this integrator's own."""

class CounterTracker:
    """Keeps a published energy counter monotonic over wraps, resets and restarts.

    bits (16, 32, 64 or None) and scale give the raw counter's span 2**bits * scale in value units.
    A drop is a wrap when the wrapped increment is at most max_increment (default span/16); any
    other drop is a reset: flagged, and the published counter holds its value, then advances with
    the new raw increments. The published counter starts at the first raw value.

    Events are uint8 codes: NONE = 0, FIRST = 1, WRAP = 2, RESET = 3 (names in EVENT_NAMES).
    """

    NONE: int
    FIRST: int
    WRAP: int
    RESET: int
    EVENT_NAMES: tuple[str, str, str, str]

    def __init__(
        self, bits: int | None = None, scale: float = 1.0, max_increment: float | None = None
    ) -> None: ...
    def update(
        self, values: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
        """(published counter, event code) for each raw value (finite, >= 0, below the span)."""
    def state(self) -> dict[str, float | int | None]:
        """Everything needed to continue after a restart: published, last_raw, max_increment,
        bits, scale (JSON-serialisable)."""
    @staticmethod
    def from_state(state: dict[str, float | int | None]) -> CounterTracker:
        """Continue from state(); the dict is checked. After a restart, a raw value lower than the
        saved last_raw is a reset (or a wrap, if plausible)."""
    @property
    def published(self) -> float | None: ...
    @property
    def bits(self) -> int | None: ...
    @property
    def scale(self) -> float: ...
    @property
    def modulus(self) -> float | None: ...

# ---- signal-processing kernels: end ----
