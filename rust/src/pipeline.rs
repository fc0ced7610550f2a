//! Frame → standard channels: decode, sign normalisation, per-phase aggregation, RoCoF and energy.
//!
//! `normalize` is the stateless part (one frame in, channel values out). `MeterPipeline` adds the
//! streaming state: a RoCoF estimator where the meter has no RoCoF register, an energy integrator
//! where it has no counters, and counter trackers that keep meter counters monotonic. Invalid
//! values are NaN; every stage passes NaN through and never turns it into a number.

use crate::channel::{self, E_EXP, E_IMP, E_NET, FREQ, NCH, P, Q, RE_EXP, RE_IMP, ROCOF};
use crate::counter::{CounterEvent, CounterTracker};
use crate::energy::EnergyIntegrator;
use crate::error::Result;
use crate::fallback::{Source, SourceStats, NSRC, SOURCED};
use crate::frame_decode::FramePlan;
use crate::input_err;
use crate::profile::CompiledProfile;
use crate::rocof::{RocofConfig, RocofEstimator};

mod aggregate;
mod state;
pub use state::{counter_channels, PipelineState};

/// Frames are processed a tile at a time: each field is decoded for the whole tile in one loop
/// with its parameters fixed (branch-free for the common layouts), then the aggregates are
/// computed column by column. 64 SDM630 frames and their columns stay in L1/L2 cache.
pub const TILE: usize = 64;

/// Field values of up to N frames, one column per channel slot. Batches use N = TILE; a single
/// frame uses N = 1, whose 264 bytes stay in L1 cache.
#[derive(Clone)]
pub struct Tile<const N: usize> {
    cols: Vec<[f64; N]>,
    scratch: [f64; N],
    /// where each aggregated channel's value came from (`fallback::SOURCED` order)
    src: Vec<[Source; N]>,
}

impl<const N: usize> Default for Tile<N> {
    fn default() -> Self {
        Tile {
            cols: vec![[f64::NAN; N]; NCH],
            scratch: [f64::NAN; N],
            src: vec![[Source::None; N]; NSRC],
        }
    }
}

impl<const N: usize> Tile<N> {
    /// Decode the fields of `k` frames (`frames` holds exactly k rows). `block_ok` holds one
    /// flag per frame and block; a field of a block that was not read is invalid (NaN).
    /// With a `plan` (AVX-512 only), its fields are decoded by transposition first, for the
    /// tile's whole blocks of eight frames.
    #[inline(always)]
    fn read_fields(
        &mut self,
        p: &CompiledProfile,
        frames: &[u16],
        k: usize,
        block_ok: Option<&[bool]>,
        plan: Option<&FramePlan>,
    ) {
        let fl = p.frame_length;
        let nb = p.blocks.len();
        let mut transposed = 0;
        #[cfg(target_arch = "x86_64")]
        if let Some(plan) = plan {
            // Safety: a plan is only passed where `simd::level()` is AVX-512; `frames` holds k
            // frames of `p`, for which the plan was made
            transposed = unsafe { plan.decode_avx512(frames, fl, k, &mut self.cols) };
        }
        let mut seen = [false; NCH];
        for (i, f) in p.fields.iter().enumerate() {
            let Tile { cols, scratch, .. } = self;
            let first = !seen[f.channel];
            let out = if first {
                &mut cols[f.channel][..k]
            } else {
                &mut scratch[..k]
            };
            if plan.is_some_and(|plan| plan.planned[i]) {
                if transposed == k && block_ok.is_none() {
                    // the transposition decoded it for every frame, and it is the first field of
                    // its channel: nothing to add
                    seen[f.channel] = true;
                    continue;
                }
                f.read_column(&frames[transposed * fl..], fl, &mut out[transposed..]);
            } else {
                f.read_column(frames, fl, out);
            }
            if let Some(ok) = block_ok {
                for (j, x) in out.iter_mut().enumerate() {
                    if !ok[j * nb + f.block] {
                        *x = f64::NAN;
                    }
                }
            }
            if !first {
                // several fields of one channel add up (SunSpec reactive energy = Q1 + Q2)
                for (a, b) in cols[f.channel][..k].iter_mut().zip(&scratch[..k]) {
                    *a += b;
                }
            }
            seen[f.channel] = true;
        }
        for (c, col) in self.cols.iter_mut().enumerate() {
            if !seen[c] {
                col[..k].fill(f64::NAN);
            }
        }
    }

    /// Row `j` as one array (for the streaming stages, which go frame by frame).
    #[inline]
    fn row(&self, j: usize, v: &mut [f64; NCH]) {
        for (x, col) in v.iter_mut().zip(&self.cols) {
            *x = col[j];
        }
    }

    /// Put back the slots the streaming stages write.
    #[inline]
    fn set_streamed(&mut self, j: usize, v: &[f64; NCH]) {
        for ch in STREAMED {
            self.cols[ch][j] = v[ch];
        }
    }

    /// Copy the first `k` values of the channels `chans` to `outs[..][start..start + k]`.
    #[inline(always)]
    fn write_out(&self, chans: &[usize], k: usize, start: usize, outs: &mut [&mut [f64]]) {
        for (out, &ch) in outs.iter_mut().zip(chans) {
            if k == N {
                // a whole tile: a copy of known length, inlined (no call per column)
                let dst: &mut [f64; N] = (&mut out[start..start + N]).try_into().expect("N values");
                *dst = self.cols[ch];
            } else {
                out[start..start + k].copy_from_slice(&self.cols[ch][..k]);
            }
        }
    }

    /// `write_out` with stores that bypass the caches, for a large output that is written once
    /// and not read back here: ordinary stores would first fetch every line of it from memory.
    /// With `wide`, a whole 64-byte line per store where the output is aligned to lines.
    ///
    /// # Safety
    /// The CPU must have SSE2 (every x86-64 does), and AVX-512 for `wide`; call `_mm_sfence`
    /// after the last tile.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn write_out_streaming(
        &self,
        chans: &[usize],
        k: usize,
        start: usize,
        outs: &mut [&mut [f64]],
        wide: bool,
    ) {
        use std::arch::x86_64::{_mm512_loadu_pd, _mm512_stream_pd, _mm_loadu_pd, _mm_stream_pd};
        for (out, &ch) in outs.iter_mut().zip(chans) {
            let dst = &mut out[start..start + k];
            let (to, from) = (dst.as_mut_ptr(), self.cols[ch].as_ptr());
            if k == N && wide && N.is_multiple_of(8) && (to as usize).is_multiple_of(64) {
                for i in (0..N).step_by(8) {
                    _mm512_stream_pd(to.add(i), _mm512_loadu_pd(from.add(i)));
                }
            } else if k == N && N.is_multiple_of(2) && (to as usize).is_multiple_of(16) {
                // numpy aligns float64 data to 16 bytes: two values per streaming store
                for i in (0..N).step_by(2) {
                    _mm_stream_pd(to.add(i), _mm_loadu_pd(from.add(i)));
                }
            } else {
                dst.copy_from_slice(&self.cols[ch][..k]);
            }
        }
    }
}

/// Slots the streaming stages (RoCoF, counters, integration) write.
const STREAMED: [usize; 6] = [ROCOF, E_IMP, E_EXP, RE_IMP, RE_EXP, E_NET];

/// Options of a pipeline beyond the profile.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    pub invert: bool,
    pub rocof: RocofConfig,
    /// longest interval the energy integrator bridges (s)
    pub max_gap: f64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            invert: false,
            rocof: RocofConfig::default(),
            max_gap: 60.0,
        }
    }
}

const COUNTER_SLOTS: [usize; 4] = [E_IMP, E_EXP, RE_IMP, RE_EXP];

/// The streaming state of a pipeline: what carries over from one frame to the next.
#[derive(Clone)]
struct Streams {
    rocof: Option<RocofEstimator>,
    energy: Option<EnergyIntegrator>,
    reactive_energy: Option<EnergyIntegrator>,
    counters: [Option<CounterTracker>; 4],
    last_t: Option<f64>,
    /// counter events seen so far: wraps and resets
    counter_wraps: u64,
    counter_resets: u64,
    /// frames that came before the previous one: the wall clock stepped back
    clock_steps: u64,
}

#[derive(Clone)]
pub struct MeterPipeline {
    pub profile: CompiledProfile,
    pub invert: bool,
    streams: Streams,
    /// one-frame tile reused by push (no allocation per frame)
    tile: Tile<1>,
    /// which source each aggregated channel used (latest frame, and counts)
    sources: SourceStats,
}

impl Streams {
    /// The streaming stages for one frame already normalised into `v`.
    fn step(&mut self, p: &CompiledProfile, t: f64, v: &mut [f64; NCH]) {
        if let Some(est) = self.rocof.as_mut() {
            v[ROCOF] = if v[FREQ].is_finite() {
                est.step(t, v[FREQ])
            } else {
                f64::NAN
            };
        }
        for (k, &ch) in COUNTER_SLOTS.iter().enumerate() {
            if let Some(tr) = self.counters[k].as_mut() {
                if v[ch].is_finite() && v[ch] >= 0.0 {
                    let (published, ev) = tr.step(v[ch], p.counter_modulus[ch]);
                    match ev {
                        CounterEvent::Wrap => self.counter_wraps += 1,
                        CounterEvent::Reset => self.counter_resets += 1,
                        _ => {}
                    }
                    v[ch] = published;
                } else {
                    v[ch] = f64::NAN;
                }
            }
        }
        for (integ, src, imp, exp) in [
            (self.energy.as_mut(), P, E_IMP, E_EXP),
            (self.reactive_energy.as_mut(), Q, RE_IMP, RE_EXP),
        ] {
            if let Some(integ) = integ {
                if v[src].is_finite() {
                    integ.step(t, v[src]);
                    v[imp] = integ.import_kwh();
                    v[exp] = integ.export_kwh();
                } else {
                    // a frame without power is not an energy reading either
                    v[imp] = f64::NAN;
                    v[exp] = f64::NAN;
                }
            }
        }
        if p.available[E_NET] {
            v[E_NET] = v[E_IMP] - v[E_EXP];
        }
        self.last_t = Some(t);
    }

    /// Before a frame at `t`: if it comes before the previous frame, the wall clock stepped back.
    /// The streams then start again as after a gap: a new RoCoF window, nothing integrated across
    /// the step (the integrated energy keeps its value), meter counters unaffected.
    fn follow_clock(&mut self, t: f64) {
        if !self.last_t.is_some_and(|prev| t < prev) {
            return;
        }
        self.clock_steps += 1;
        if let Some(est) = self.rocof.as_mut() {
            // the configuration was accepted when the pipeline was built
            if let Ok(fresh) = RocofEstimator::new(est.config().clone()) {
                *est = fresh;
            }
        }
        for integ in [self.energy.as_mut(), self.reactive_energy.as_mut()]
            .into_iter()
            .flatten()
        {
            integ.restart_series();
        }
        self.last_t = None;
    }
}

impl MeterPipeline {
    pub fn new(profile: CompiledProfile, cfg: PipelineConfig) -> Result<Self> {
        let m = profile.from_meter;
        let rocof = if !m[ROCOF] && m[FREQ] {
            Some(RocofEstimator::new(cfg.rocof.clone())?)
        } else {
            None
        };
        let energy = if !profile.meter_energy && profile.available[E_IMP] {
            Some(EnergyIntegrator::new(cfg.max_gap, true)?)
        } else {
            None
        };
        let reactive_energy = if !profile.meter_reactive_energy && profile.available[RE_IMP] {
            Some(EnergyIntegrator::new(cfg.max_gap, true)?)
        } else {
            None
        };
        let mut counters: [Option<CounterTracker>; 4] = [None, None, None, None];
        for (k, &ch) in COUNTER_SLOTS.iter().enumerate() {
            let metered = if ch == E_IMP || ch == E_EXP {
                profile.meter_energy
            } else {
                profile.meter_reactive_energy
            };
            if metered {
                counters[k] = Some(CounterTracker::new(None)?);
            }
        }
        Ok(MeterPipeline {
            profile,
            invert: cfg.invert,
            streams: Streams {
                rocof,
                energy,
                reactive_energy,
                counters,
                last_t: None,
                counter_wraps: 0,
                counter_resets: 0,
                clock_steps: 0,
            },
            tile: Tile::default(),
            sources: SourceStats::default(),
        })
    }

    /// The channel slots this pipeline produces, in slot order.
    pub fn channels(&self) -> Vec<usize> {
        (0..NCH).filter(|&c| self.profile.available[c]).collect()
    }

    pub fn last_timestamp(&self) -> Option<f64> {
        self.streams.last_t
    }

    fn check_frames(&self, ts: &[f64], words: usize, block_ok: Option<&[bool]>) -> Result<()> {
        let n = ts.len();
        let fl = self.profile.frame_length;
        if words != n * fl {
            return Err(input_err!(
                "{words} registers for {n} frame(s) of {fl} registers, expected {}",
                n * fl
            ));
        }
        if let Some(b) = block_ok {
            let nb = self.profile.blocks.len();
            if b.len() != n * nb {
                return Err(input_err!(
                    "block_ok has {} entries, expected {} ({n} frames × {nb} blocks)",
                    b.len(),
                    n * nb
                ));
            }
        }
        // a first frame before the previous one is a clock step (`Streams::follow_clock`), not
        // disorder; only a repeated timestamp is refused
        let mut last = match (self.streams.last_t, ts.first()) {
            (Some(prev), Some(&first)) if first < prev => None,
            (last, _) => last,
        };
        for (i, &t) in ts.iter().enumerate() {
            if !t.is_finite() {
                return Err(input_err!(
                    "timestamp {i} is {t}, expected finite seconds since the epoch"
                ));
            }
            if let Some(prev) = last {
                if t <= prev {
                    return Err(input_err!(
                        "timestamp {i} ({t}) does not increase (previous {prev}); frames must come in time order"
                    ));
                }
            }
            last = Some(t);
        }
        Ok(())
    }

    /// The aggregated channels this pipeline produces, in `fallback::SOURCED` order.
    pub fn tracked_sources(&self) -> [bool; NSRC] {
        SOURCED.map(|c| self.profile.available[c])
    }

    /// Which source each aggregated channel used in the latest frame, and how often so far.
    pub fn sources(&self) -> &SourceStats {
        &self.sources
    }

    /// Meter counter wraps seen (a counter passing its register's maximum).
    pub fn counter_wraps(&self) -> u64 {
        self.streams.counter_wraps
    }

    /// Meter counter resets seen (a drop that is not a wrap).
    pub fn counter_resets(&self) -> u64 {
        self.streams.counter_resets
    }

    /// Frames that came before the previous frame (the wall clock stepped back).
    pub fn clock_steps(&self) -> u64 {
        self.streams.clock_steps
    }

    /// One frame. On error nothing changes.
    pub fn push(
        &mut self,
        t: f64,
        frame: &[u16],
        block_ok: Option<&[bool]>,
        v: &mut [f64; NCH],
    ) -> Result<()> {
        self.check_frames(&[t], frame.len(), block_ok)?;
        self.streams.follow_clock(t);
        let tracked = self.tracked_sources();
        let tile = &mut self.tile;
        tile.read_fields(&self.profile, frame, 1, block_ok, None);
        tile.aggregate(&self.profile, self.invert);
        self.sources.record(&tile.src, &tracked, 0);
        tile.row(0, v);
        self.streams.step(&self.profile, t, v);
        Ok(())
    }

    /// Many frames (row-major, frames × frame_length) into `outs`, one column of n values per
    /// produced channel in `channels()` order. The whole batch is checked before any state changes.
    pub fn push_many(
        &mut self,
        ts: &[f64],
        frames: &[u16],
        block_ok: Option<&[bool]>,
        outs: &mut [&mut [f64]],
    ) -> Result<()> {
        self.check_frames(ts, frames.len(), block_ok)?;
        let chans = self.channels();
        check_outs(outs, chans.len(), ts.len())?;
        if let Some(&first) = ts.first() {
            self.streams.follow_clock(first);
        }
        let fl = self.profile.frame_length;
        let nb = self.profile.blocks.len();
        let mut tile = Tile::<TILE>::default();
        let mut v = [f64::NAN; NCH];
        let tracked = self.tracked_sources();
        for (start, tile_ts) in (0..).step_by(TILE).zip(ts.chunks(TILE)) {
            let k = tile_ts.len();
            let ok = block_ok.map(|b| &b[start * nb..(start + k) * nb]);
            tile.read_fields(
                &self.profile,
                &frames[start * fl..(start + k) * fl],
                k,
                ok,
                None,
            );
            tile.aggregate(&self.profile, self.invert);
            for (j, &t) in tile_ts.iter().enumerate() {
                self.sources.record(&tile.src, &tracked, j);
                tile.row(j, &mut v);
                self.streams.step(&self.profile, t, &mut v);
                tile.set_streamed(j, &v);
            }
            tile.write_out(&chans, k, start, outs);
        }
        Ok(())
    }
}

fn check_outs(outs: &[&mut [f64]], channels: usize, n: usize) -> Result<()> {
    if outs.len() != channels || outs.iter().any(|o| o.len() != n) {
        return Err(input_err!(
            "output columns: {} of lengths {:?}, expected {channels} of {n}",
            outs.len(),
            outs.iter().map(|o| o.len()).collect::<Vec<_>>()
        ));
    }
    Ok(())
}

/// The channel slots `decode_frames` produces: those of a single frame, without the streaming
/// stages (RoCoF and integrated energy need a stream).
pub fn decoded_channels(p: &CompiledProfile) -> Vec<usize> {
    (0..NCH)
        .filter(|&c| {
            p.available[c]
                && (p.from_meter[c]
                    || !matches!(c, ROCOF | E_IMP | E_EXP | RE_IMP | RE_EXP | E_NET)
                    || (c == E_NET && p.meter_energy))
        })
        .collect()
}

/// Stateless decode of many frames into `outs`, one column per `decoded_channels` slot.
pub fn decode_frames(
    p: &CompiledProfile,
    frames: &[u16],
    invert: bool,
    outs: &mut [&mut [f64]],
) -> Result<()> {
    let fl = p.frame_length;
    if fl == 0 || !frames.len().is_multiple_of(fl) {
        return Err(input_err!(
            "{} registers are not whole frames of {fl} registers",
            frames.len()
        ));
    }
    let n = frames.len() / fl;
    let chans = decoded_channels(p);
    check_outs(outs, chans.len(), n)?;
    match crate::simd::level() {
        // Safety: `level` says the CPU has the features
        #[cfg(target_arch = "x86_64")]
        crate::simd::Level::Avx512 => unsafe {
            decode_tiles_avx512(p, frames, invert, &chans, outs)
        },
        _ => decode_tiles(p, frames, invert, &chans, outs, false),
    }
    Ok(())
}

/// `decode_tiles` compiled for AVX-512 (the column loops vectorise).
///
/// # Safety
/// The CPU must have the AVX-512 features (`simd::level()`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
unsafe fn decode_tiles_avx512(
    p: &CompiledProfile,
    frames: &[u16],
    invert: bool,
    chans: &[usize],
    outs: &mut [&mut [f64]],
) {
    decode_tiles(p, frames, invert, chans, outs, true)
}

/// The tiles of `decode_frames`. `avx512` (the caller runs the AVX-512 copy) decodes the fields
/// a `FramePlan` takes by in-register transposition and streams out with 512-bit stores.
#[inline(always)]
fn decode_tiles(
    p: &CompiledProfile,
    frames: &[u16],
    invert: bool,
    chans: &[usize],
    outs: &mut [&mut [f64]],
    avx512: bool,
) {
    let fl = p.frame_length;
    let plan = if avx512 { FramePlan::new(p) } else { None };
    let stream = frames.len() / fl >= STREAM_FROM_FRAMES;
    let mut tile = Tile::<TILE>::default();
    for (start, chunk) in (0..).step_by(TILE).zip(frames.chunks(TILE * fl)) {
        let k = chunk.len() / fl;
        // the fields are read column by column, jumping from frame to frame (a cache miss per
        // frame and field): ask for the next tile's frames now, so they arrive meanwhile
        prefetch(frames.get((start + TILE) * fl..(start + 2 * TILE) * fl));
        tile.read_fields(p, chunk, k, None, plan.as_ref());
        tile.aggregate(p, invert);
        #[cfg(target_arch = "x86_64")]
        if stream {
            // Safety: x86-64 has SSE2, and `avx512` says whether the CPU has AVX-512; the fence
            // follows the loop
            unsafe { tile.write_out_streaming(chans, k, start, outs, avx512) };
            continue;
        }
        tile.write_out(chans, k, start, outs);
    }
    #[cfg(target_arch = "x86_64")]
    if stream {
        // Safety: as above
        unsafe { std::arch::x86_64::_mm_sfence() };
    }
}

/// Frames from which `decode` streams its output past the caches (about 1 MB of output).
const STREAM_FROM_FRAMES: usize = 4096;

/// Hint the CPU to bring `words` into its caches (no effect where there is no such hint).
#[inline(always)]
fn prefetch(words: Option<&[u16]>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(words) = words {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for line in words.chunks(32) {
            // Safety: prefetching is a hint; the address is inside the slice
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr() as *const i8) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = words;
}

pub fn channel_name(slot: usize) -> &'static str {
    channel::NAMES[slot]
}
