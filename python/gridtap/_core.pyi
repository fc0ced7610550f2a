"""Type stubs and documentation of the compiled core (`gridtap._core`)."""

from collections.abc import Iterator, Mapping, Sequence
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
def simd_level() -> str:
    """The instruction set the kernels run with: "baseline", "avx2" or "avx512", the best this CPU
    has unless the environment variable GRIDTAP_SIMD names a lower one (read once, on first use).
    Every set gives bit-identical results; only the speed differs."""

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

class WriteLayout:
    """The channel names of one kind of DAL write (bare names, in write order) and the physical
    minima (index, lowest value) that apply to them: the DAL's one-pass check of its common case."""

    def __init__(self, names: tuple[str, ...], minima: list[tuple[int, float]]) -> None: ...
    def values(self, mapping: object) -> tuple[float, ...] | None:
        """The values as a tuple if `mapping` is a dict or a ChannelValues with exactly these
        names as keys, in this order, and every value is a finite float at or above its minimum;
        else None (the caller then checks each value and names what is wrong)."""

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
        block_ok marks read blocks that failed. A timestamp equal to the previous one is refused
        (InputError; nothing changes). One before the previous is a wall-clock step back: the
        RoCoF window and the energy integration start again there, as after a gap (nothing is
        integrated across the step; meter counters are unaffected), and `clock_steps` counts it.
        The result can go straight to `Dal.write_many(namespace, values, timestamp)`."""
    def push_many(
        self,
        timestamps: npt.NDArray[np.float64],
        registers: npt.NDArray[np.uint16],
        block_ok: list[bool] | None = None,
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Many frames (n × frame_length): {channel: float64 array}, NaN where invalid.
        Timestamps increase within the batch; its first may step back from the previous call's
        last (as for `push`). `Dal.write_frames(namespace, timestamps, result)` stores the batch:
        the DAL keeps each channel's last value (NaN there is an ERROR reading)."""
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
    @property
    def clock_steps(self) -> int:
        """Frames that came before the previous one (the wall clock stepped back)."""

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
    def push(self, timestamp: float, frequency: float) -> float:
        """`update` with one sample, without arrays (a stream's per-frame path): its estimate.
        The same result as that sample in any chunk."""
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
    def push(
        self, timestamp: float, power_w: float, reactive_var: float | None = None
    ) -> tuple[float, float, float, float]:
        """`update` with one sample of total power, without arrays (a stream's per-frame path);
        returns (import_kwh, export_kwh, reactive_import_kvarh, reactive_export_kvarh) after it.
        The same totals as that sample in any chunk."""
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

# ---- IEEE C37.118.2 synchrophasor codec (PMU streams): begin ----

C37118Time = float | tuple[int, int]
"""A frame's timestamp for the encoders: epoch seconds as a float (SOC and the fraction rounded to
TIME_BASE), or exactly (SOC, fraction) with 0 <= fraction < TIME_BASE."""

class C37118PmuConfig:
    """One PMU block of a configuration frame (CFG-1, CFG-2 or CFG-3): what the PMU's block in a data
    frame holds and how to scale it.

    format is the FORMAT word: bit 3 FREQ/DFREQ float, bit 2 analogs float, bit 1 phasors float,
    bit 0 phasors polar (0x0000 = all 16-bit integer, rectangular).

    Phasors: phasor_units are "V" or "A"; phasor_scales are volts or amperes per integer count
    (PHUNIT × 10^-5 in CFG-1/2, the PHSCALE factor Y in CFG-3), and integer phasors are rotated by
    phasor_angle_offsets (rad, CFG-3 only: 0 in CFG-1/2). Float phasors: see the configuration's
    `phasor_scaling` (CFG-1/2's PHUNIT never applies to them; CFG-3's Y and θ do).
    phasor_components (CFG-3 only, else None): "A", "B", "C", "positive", "negative", "zero", or
    None (not given / reserved). phasor_flags: CFG-3 data-modification flags (16 bits).

    Analogs are delivered as transmitted; their scaling is here for the caller: analog_kinds (CFG-1/2
    ANUNIT top byte: 0 point-on-wave, 1 RMS, 2 peak), analog_scales (CFG-1/2: the signed 24-bit
    user scale; CFG-3: ANSCALE factor M) and analog_offsets (CFG-3: ANSCALE offset B; else 0).

    Digitals: 16 digital_names per status word (bit 0 first), digital_masks one (normal status,
    valid inputs) pair per word.

    CFG-3 only (ignored by CFG-1/2): g_pmu_id (16 bytes), latitude/longitude (degrees) and
    elevation (m) (inf = unspecified), service_class ("M" or "P"), window and group_delay (µs).

    Raises InputError (naming the station and the field) for lengths that do not match the names,
    unknown units or components, fnom other than 50/60, names that do not fit their field.
    """

    def __init__(
        self,
        station: str,
        idcode: int,
        format: int = 0,
        *,
        phasor_names: Sequence[str] = (),
        phasor_units: Sequence[str] | None = None,
        phasor_scales: Sequence[float] | None = None,
        phasor_components: Sequence[str | None] | None = None,
        phasor_angle_offsets: Sequence[float] | None = None,
        phasor_flags: Sequence[int] | None = None,
        analog_names: Sequence[str] = (),
        analog_kinds: Sequence[int] | None = None,
        analog_scales: Sequence[float] | None = None,
        analog_offsets: Sequence[float] | None = None,
        digital_names: Sequence[str] = (),
        digital_masks: Sequence[tuple[int, int]] | None = None,
        fnom: int = 50,
        cfgcnt: int = 0,
        g_pmu_id: bytes = bytes(16),
        latitude: float = float("inf"),
        longitude: float = float("inf"),
        elevation: float = float("inf"),
        service_class: str = "M",
        window: int = 0,
        group_delay: int = 0,
    ) -> None:
        """Defaults: units "V", scales 1.0, components None, offsets 0.0, flags 0, analog kinds 1
        (RMS), digital masks (0, 0xFFFF)."""
    @property
    def station(self) -> str: ...
    @property
    def idcode(self) -> int: ...
    @property
    def format(self) -> int: ...
    @property
    def freq_float(self) -> bool:
        """FORMAT bit 3: FREQ/DFREQ are f32 (absolute Hz, Hz/s), else i16 (mHz from fnom, Hz/s × 100)."""
    @property
    def analogs_float(self) -> bool: ...
    @property
    def phasors_float(self) -> bool: ...
    @property
    def polar(self) -> bool: ...
    @property
    def phasor_names(self) -> list[str]: ...
    @property
    def phasor_units(self) -> list[str]:
        """ "V" (voltage) or "A" (current) per phasor."""
    @property
    def phasor_scales(self) -> list[float]: ...
    @property
    def phasor_components(self) -> list[str | None]: ...
    @property
    def phasor_angle_offsets(self) -> list[float]: ...
    @property
    def phasor_flags(self) -> list[int]: ...
    @property
    def analog_names(self) -> list[str]: ...
    @property
    def analog_kinds(self) -> list[int]: ...
    @property
    def analog_scales(self) -> list[float]: ...
    @property
    def analog_offsets(self) -> list[float]: ...
    @property
    def digital_names(self) -> list[str]: ...
    @property
    def digital_masks(self) -> list[tuple[int, int]]: ...
    @property
    def digital_words(self) -> int:
        """DGNMR: the number of 16-bit digital status words."""
    @property
    def fnom(self) -> int:
        """Nominal frequency, 50 or 60 (Hz)."""
    @property
    def cfgcnt(self) -> int: ...
    @property
    def g_pmu_id(self) -> bytes: ...
    @property
    def latitude(self) -> float: ...
    @property
    def longitude(self) -> float: ...
    @property
    def elevation(self) -> float: ...
    @property
    def service_class(self) -> str: ...
    @property
    def window(self) -> int: ...
    @property
    def group_delay(self) -> int: ...
    @property
    def data_size(self) -> int:
        """Bytes of this PMU's block in a data frame."""

class C37118Config:
    """A stream's configuration: its IDCODE, TIME_BASE, DATA_RATE and PMU blocks in data-frame
    order. From a decoded CFG-1/2/3 frame, or built to encode one (a simulator, tests).

    data_rate > 0: frames per second; < 0: seconds per frame (frame_rate gives frames/s either way).

    phasor_scaling says what the PMUs' phasor_scales and phasor_angle_offsets apply to. "cfg12"
    (CFG-1/2's PHUNIT, and the default for one built by hand): 16-bit integer phasors only; float
    phasors are volts/amperes as sent. "cfg3" (a configuration decoded from CFG-3, whose PHSCALE
    factor Y "scales phasor data to primary volts or amperes", C37.118.2-2011 Table 11): float
    phasors too, as Y·X at the angle + θ (a PMU sending scaled floats sets Y = 1, θ = 0). The
    decoder and `encode_c37118_data` follow it; `encode_c37118_config` sends a "cfg12"
    configuration's float phasors as CFG-3 with Y = 1 and θ = 0, and refuses to send a "cfg3" one
    whose float phasors are scaled as CFG-1/2.

    Raises InputError for an IDCODE outside 1..65534, TIME_BASE outside 1..2^24-1, data_rate 0, no
    PMUs, a data frame that would exceed 65535 bytes, or another phasor_scaling."""

    def __init__(
        self,
        idcode: int,
        pmus: Sequence[C37118PmuConfig],
        *,
        time_base: int = 1_000_000,
        data_rate: int = 50,
        phasor_scaling: str = "cfg12",
    ) -> None: ...
    @property
    def idcode(self) -> int: ...
    @property
    def pmus(self) -> list[C37118PmuConfig]: ...
    @property
    def time_base(self) -> int: ...
    @property
    def data_rate(self) -> int: ...
    @property
    def frame_rate(self) -> float:
        """Frames per second (DATA_RATE, or 1/|DATA_RATE| when negative)."""
    @property
    def data_frame_size(self) -> int:
        """FRAMESIZE of this stream's data frames (header, PMU blocks and CHK)."""
    @property
    def phasor_scaling(self) -> str:
        """Either "cfg12" or "cfg3": what the phasor scales apply to (see the class)."""

class C37118PmuData:
    """One PMU's block of a data frame, decoded: values in engineering units, NaN where the PMU sent
    absent data (0x8000 in an integer field, NaN in a float one), never a number in their place.

    freq is absolute (Hz) in every FORMAT (an integer FREQ is fnom + mHz/1000); rocof is Hz/s
    (an integer DFREQ is divided by 100). phasors are complex volts/amperes after the PHUNIT
    scaling (integer phasors) or the PHSCALE scaling (CFG-3: integer and float phasors), polar
    angles in rad; a phasor with an absent component is complex(nan, nan).
    analogs are as transmitted (float); digitals are the raw 16-bit words.

    Built by hand for `encode_c37118_data` (idcode is then informational: the configuration's PMU
    order decides)."""

    def __init__(
        self,
        phasors: Sequence[complex] = (),
        freq: float = float("nan"),
        rocof: float = float("nan"),
        analogs: Sequence[float] = (),
        digitals: Sequence[int] = (),
        stat: int = 0,
        idcode: int = 0,
    ) -> None: ...
    @property
    def idcode(self) -> int: ...
    @property
    def stat(self) -> int:
        """The raw STAT word; its fields below."""
    @property
    def freq(self) -> float: ...
    @property
    def rocof(self) -> float: ...
    @property
    def phasors(self) -> list[complex]: ...
    @property
    def analogs(self) -> list[float]: ...
    @property
    def digitals(self) -> list[int]: ...
    @property
    def data_error(self) -> int:
        """STAT bits 15-14: 0 good, 1 PMU error, 2 test mode / absent data inserted, 3 PMU error
        (do not use). (In 2005 frames bit 15 alone meant "data invalid": data_error >= 2.)"""
    @property
    def sync_error(self) -> bool:
        """STAT bit 13: the PMU lost time synchronisation."""
    @property
    def sorted_by_arrival(self) -> bool:
        """STAT bit 12."""
    @property
    def trigger(self) -> bool:
        """STAT bit 11."""
    @property
    def config_change(self) -> bool:
        """STAT bit 10: the configuration will change within a minute."""
    @property
    def data_modified(self) -> bool:
        """STAT bit 9 (2011)."""
    @property
    def time_quality(self) -> int:
        """STAT bits 8-6 (2011): PMU time quality, 0 = not used, 1..7 = max time error 100 ns .. > 10 ms."""
    @property
    def unlocked_time(self) -> int:
        """STAT bits 5-4: 0 locked or unlocked < 10 s, 1: < 100 s, 2: < 1000 s, 3: > 1000 s."""
    @property
    def trigger_reason(self) -> int:
        """STAT bits 3-0."""

class C37118Frame:
    """One decoded frame. Every frame has the common header: type ("data", "header", "cfg1",
    "cfg2", "cfg3", "command"), version (1 = 2005, 2 = 2011), idcode, soc, fraction (the 24-bit
    FRACSEC count), time (float epoch seconds = soc + fraction / TIME_BASE) and the FRACSEC flags.

    TIME_BASE is the frame's own for configuration frames, the stream's configuration for data
    frames, and for header and command frames that of the latest configuration with their IDCODE
    (1,000,000 when none is known).

    Kind-specific parts (empty or None for the other kinds): pmus (data), config (cfg1/2/3; a CFG-3
    sent in fragments is one frame, returned when its last fragment arrives), command and extended
    (command frames: CMD and the extended-frame bytes), text (header frames)."""

    @property
    def type(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def idcode(self) -> int: ...
    @property
    def size(self) -> int:
        """FRAMESIZE in bytes (the last fragment's, for a fragmented CFG-3)."""
    @property
    def soc(self) -> int: ...
    @property
    def fraction(self) -> int: ...
    @property
    def time(self) -> float: ...
    @property
    def time_quality(self) -> int:
        """FRACSEC bits 27-24: 0 clock locked, 1..0xB unlocked within 10^(n-10) s, 0xF clock failure."""
    @property
    def leap_pending(self) -> bool:
        """FRACSEC bit 28: a leap second is announced."""
    @property
    def leap_occurred(self) -> bool:
        """FRACSEC bit 29: a leap second occurred (set for 24 h after it)."""
    @property
    def leap_delete(self) -> bool:
        """FRACSEC bit 30: the leap second is (was) a deletion; clear = an insertion."""
    @property
    def pmus(self) -> list[C37118PmuData]: ...
    @property
    def config(self) -> C37118Config | None: ...
    @property
    def command(self) -> int | None:
        """1 transmission off, 2 on, 3 send header, 4 send CFG-1, 5 send CFG-2, 6 send CFG-3,
        8 extended frame, 0x100-0xFFF user defined."""
    @property
    def extended(self) -> bytes: ...
    @property
    def text(self) -> str | None:
        """A header frame's text (non-UTF-8 bytes replaced)."""

class C37118Decoder:
    """Stream decoder: bytes in as they arrive (any split: several frames, part of one), frames out
    in stream order.

    Frames are delimited by FRAMESIZE and checked with CRC-CCITT. Bytes that do not begin a frame
    with a valid CRC are skipped one at a time and counted, so a corrupted frame loses only itself;
    a frame of an unknown version or type with a valid CRC is skipped whole and counted. A partial
    frame waits for the next feed, unless a complete valid frame already follows it in the buffer
    (a false SYNC in garbage with a large FRAMESIZE does not stall the stream).

    Data frames are decoded with the latest CFG-2 or CFG-3 (or the configuration given) for their
    IDCODE; a data frame with none, or whose size does not match it, is counted, not returned.
    CFG-1 frames are returned but describe capability, not the data, so they do not replace it.
    feed never raises for bad bytes; only a bug (InternalError) can."""

    def __init__(self, config: C37118Config | None = None) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[C37118Frame]: ...
    def use_config(self, config: C37118Config) -> None:
        """Decode data frames with this IDCODE by `config` (e.g. read over TCP, data over UDP)."""
    def reset(self) -> None:
        """Drop buffered partial bytes and CFG-3 fragments (after a reconnect); keeps
        configurations and stats."""
    @property
    def config(self) -> C37118Config | None:
        """The latest CFG-2/CFG-3 decoded (or given), whatever its IDCODE."""
    @property
    def configs(self) -> dict[int, C37118Config]:
        """The configuration used for each stream IDCODE."""
    @property
    def buffered(self) -> int:
        """Bytes held for the next feed (a partial frame)."""
    @property
    def stats(self) -> dict[str, int]:
        """Counters since creation: frames returned by type ("data", "header", "cfg1", "cfg2",
        "cfg3", "command"), "cfg3_fragments", "bytes" (fed), "bytes_skipped" (not part of any frame),
        "crc_errors" (a plausible SYNC and FRAMESIZE whose CRC failed), "unknown_frames" (valid CRC,
        unknown version or type), "no_config" (data frames without a configuration), "malformed"
        (valid CRC, contents inconsistent: a data frame not matching its configuration, a
        configuration that does not parse, a CFG-3 fragment out of order)."""

def decode_c37118(
    data: bytes | bytearray | memoryview, config: C37118Config | None = None
) -> dict[int, dict[str, npt.NDArray[Any]]]:
    """Decode a recorded stream (the GIL released) into numpy arrays per PMU IDCODE:
    "time" (float64 epoch s), "freq" (float64 Hz), "rocof" (float64 Hz/s), "stat" (uint16),
    "phasors" (complex128, frames × phasors), "analogs" (float64, frames × analogs), "digitals"
    (uint16, frames × words) -- the same values as C37118Decoder.feed, NaN for absent data.
    Configurations in the stream are used as they come (`config` for data before the first);
    raises InputError if a PMU's channel counts change within the stream."""

def encode_c37118_config(
    config: C37118Config,
    time: C37118Time,
    *,
    type: str = "cfg2",
    version: int = 2,
    max_frame_size: int = 65535,
    time_quality: int = 0,
    leap_pending: bool = False,
    leap_occurred: bool = False,
    leap_delete: bool = False,
) -> bytes:
    """A configuration frame: type "cfg1", "cfg2" or "cfg3" (version 2 only). A CFG-3 larger than
    max_frame_size is split into fragments (CONT_IDX 1, 2, ..., 0xFFFF), returned concatenated; one
    that fits is a single frame with CONT_IDX 0. CFG-1/2 scales must be whole multiples of
    10^-5 (PHUNIT) and analog scales 24-bit integers, and float phasors unscaled, else InputError.
    Float phasors of a config with phasor_scaling "cfg12" go into CFG-3 with Y = 1 and θ = 0."""

def encode_c37118_data(
    config: C37118Config,
    time: C37118Time,
    pmus: Sequence[C37118PmuData],
    *,
    version: int = 2,
    time_quality: int = 0,
    leap_pending: bool = False,
    leap_occurred: bool = False,
    leap_delete: bool = False,
) -> bytes:
    """A data frame: one C37118PmuData per PMU of `config`, in its order, with as many phasors,
    analogs and digitals as configured. NaN (or a NaN component) is sent as absent data (0x8000 or
    NaN). freq is absolute Hz in every FORMAT. Raises InputError (naming the PMU and field) for a
    count mismatch or a value outside its integer field (0x8000 is reserved for absent data)."""

def encode_c37118_command(
    idcode: int,
    command: int,
    time: C37118Time,
    *,
    version: int = 2,
    extended: bytes = b"",
    time_base: int = 1_000_000,
    time_quality: int = 0,
    leap_pending: bool = False,
    leap_occurred: bool = False,
    leap_delete: bool = False,
) -> bytes:
    """A command frame (CMD 1 off, 2 on, 3 header, 4 CFG-1, 5 CFG-2, 6 CFG-3, 8 extended)."""

def encode_c37118_header(
    idcode: int,
    text: str,
    time: C37118Time,
    *,
    version: int = 2,
    time_base: int = 1_000_000,
    time_quality: int = 0,
    leap_pending: bool = False,
    leap_occurred: bool = False,
    leap_delete: bool = False,
) -> bytes:
    """A header frame carrying `text` (UTF-8)."""

# ---- IEEE C37.118.2 synchrophasor codec: end ----

# a PMU stream's phasors as grid channels (gridtap.pmu_mapping.ChannelMapper)

class PhasorChannels:
    """Grid channels from one frame's phasors (IEEE 1459 load convention, S = V·conj(I), + import,
    + inductive Q), for a fixed choice of phasors (see gridtap.pmu_mapping).

    voltages / currents: the phasor index of phase L1, L2, L3 (None: not sent); positive: (V1, I1)
    indices when the totals come from positive sequence (3·V1·conj(I1)); totals: whether there is
    total power at all; invert flips P and Q. Per phase Voltage_Lx = |V|, Current_Lx = |I|, and
    with both ActivePower_Lx, ReactivePower_Lx, ApparentPower_Lx = |V|·|I|, PowerFactor_Lx = P/S
    (1 for an idle phase, None if undefined); Voltage_L12 ... = |Va − Vb|; totals summed over the
    phases (or from positive sequence), PowerFactor, and PhaseImbalance (max − min of the phase
    powers) with three phases. Frequency and Frequency_RoCoF are FREQ and DFREQ. A value that
    needs an absent (NaN) phasor is None, and an absent phase makes the totals None."""

    def __init__(
        self,
        voltages: tuple[int | None, int | None, int | None],
        currents: tuple[int | None, int | None, int | None],
        positive: tuple[int, int] | None = None,
        *,
        totals: bool,
        invert: bool = False,
    ) -> None: ...
    @property
    def names(self) -> tuple[str, ...]:
        """The channels of `values`, in its order."""
    def values(self, phasors: Sequence[complex], freq: float, rocof: float) -> dict[str, float | None]:
        """One frame's channels; InputError if a phasor index is beyond `phasors`."""
    def block(self, pmu: C37118PmuData) -> dict[str, float | None]:
        """`values` of a decoded PMU block (its phasors, freq and rocof)."""
