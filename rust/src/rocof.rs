//! Rate of change of frequency (RoCoF) from a timestamped frequency series, and the definite-time
//! loss-of-mains trip that grid codes put on it.
//!
//! The input is a frequency series as a meter or PMU reports it: any rate from 1 Hz polling to
//! 1000 frames per second, timestamps that jitter, timestamps that are epoch seconds (~1.8e9) in
//! float64. Two estimators:
//!
//! - least squares (the default): the slope of the straight line fitted to the samples of the last
//!   `window` seconds. Its white-noise gain is √12·σ_f/(T·√N) against √2·σ_f/T for a two-point
//!   difference, and it reports for the middle of its window (group delay window/2).
//! - window average: (f_newest − f_oldest)/(t_newest − t_oldest) over the window, the grid codes'
//!   "mean RoCoF over 1 s / 2 s"; exact on ramps.
//!
//! Both return NaN, never 0, until the history spans the window: a RoCoF of 0 is a measurement.

use crate::error::Result;
use crate::input_err;
use crate::simd::Level;
use crate::slope_window::{History, GROUP};

// the checks and the trip lived here first; other modules and the bindings name them here
pub use crate::rocof_trip::RocofTrip;
pub use crate::series::{check_finite, check_length, check_series, check_timestamps};

/// Share of the newest sample interval by which a sample may be older than `window` and still
/// count as inside it. Polled timestamps jitter, and a window of exactly k sample periods must keep
/// holding k + 1 samples instead of flickering between k and k + 1.
pub(crate) const JITTER_SHARE: f64 = 0.25;

/// The uncertainty of a difference of two float64 timestamps near `t`: epoch seconds (~1.8e9)
/// resolve only about 0.24 µs, so "exactly 0.5 s apart" may compute as 0.49999976 s.
#[inline]
pub(crate) fn time_resolution(t: f64) -> f64 {
    4.0 * f64::EPSILON * t.abs()
}

/// How the RoCoF is estimated from the samples inside the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RocofMethod {
    /// Least-squares slope of frequency against time over the window.
    LeastSquares,
    /// (f_newest − f_oldest) / (t_newest − t_oldest): the grid codes' mean RoCoF over a window.
    WindowAverage,
}

impl RocofMethod {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "least_squares" => Ok(RocofMethod::LeastSquares),
            "window_average" => Ok(RocofMethod::WindowAverage),
            other => Err(input_err!(
                "unknown RoCoF method {other:?}, expected \"least_squares\" or \"window_average\""
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RocofMethod::LeastSquares => "least_squares",
            RocofMethod::WindowAverage => "window_average",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RocofConfig {
    /// Seconds of history the estimate spans (EN 50549 and GB loss-of-mains: 0.5 s).
    pub window: f64,
    pub method: RocofMethod,
    /// Time constant (s) of a first-order smoothing stage after the estimator; 0 = off.
    pub smoothing: f64,
}

impl Default for RocofConfig {
    fn default() -> Self {
        RocofConfig {
            window: 0.5,
            method: RocofMethod::LeastSquares,
            smoothing: 0.0,
        }
    }
}

/// Samples added to the history at a time (so it stays in cache for short windows).
const BLOCK: usize = 4096;

/// Chunks of at least this many samples are checked block by block as they are copied into the
/// history, the estimator being restored from a copy if one is bad: the copy costs about one
/// history's worth (a few BLOCKs), a second read of a large input costs more.
const FUSED_CHECK_MIN: usize = 4 * BLOCK;

/// Streaming RoCoF estimator. Feed it chunks of any size: the output is bit-identical for any
/// chunking of the same samples.
#[derive(Clone, Debug)]
pub struct RocofEstimator {
    cfg: RocofConfig,
    hist: History,
    /// samples seen
    n: u64,
    /// index of the window's oldest sample
    lo: u64,
    first_t: Option<f64>,
    last_t: Option<f64>,
    /// Latched once the history spans the window.
    ready: bool,
    smoothed: Option<f64>,
}

impl RocofEstimator {
    pub fn new(cfg: RocofConfig) -> Result<Self> {
        if !(cfg.window.is_finite() && cfg.window > 0.0) {
            return Err(input_err!(
                "RoCoF window is {} s; expected a finite number of seconds > 0 (e.g. 0.5)",
                cfg.window
            ));
        }
        if !(cfg.smoothing.is_finite() && cfg.smoothing >= 0.0) {
            return Err(input_err!(
                "RoCoF smoothing time constant is {} s; expected a finite number >= 0 (0 = off)",
                cfg.smoothing
            ));
        }
        Ok(RocofEstimator {
            cfg,
            hist: History::default(),
            n: 0,
            lo: 0,
            first_t: None,
            last_t: None,
            ready: false,
            smoothed: None,
        })
    }

    pub fn config(&self) -> &RocofConfig {
        &self.cfg
    }

    /// Seconds between the newest sample used and the instant the estimate stands for: window/2
    /// for both methods (nominal: the middle of the window), plus the smoothing time constant.
    pub fn group_delay(&self) -> f64 {
        self.cfg.window / 2.0 + self.cfg.smoothing
    }

    pub fn last_timestamp(&self) -> Option<f64> {
        self.last_t
    }

    /// One sample. The caller guarantees `t` finite and after the previous sample's, `f` finite
    /// (`update` checks that). Returns the RoCoF in Hz/s, or NaN until the history spans the window.
    pub fn step(&mut self, t: f64, f: f64) -> f64 {
        let mut out = [f64::NAN];
        self.run_unchecked(crate::simd::level(), &[t], &[f], &mut out);
        out[0]
    }

    /// A chunk of samples: checked as a whole first (lengths, timestamps finite and increasing,
    /// also past the last accepted one, frequencies finite); on error nothing changes.
    pub fn update(&mut self, ts: &[f64], fs: &[f64]) -> Result<Vec<f64>> {
        let mut out = vec![f64::NAN; ts.len()];
        self.update_into(ts, fs, &mut out)?;
        Ok(out)
    }

    /// `update` into a caller's buffer of `ts.len()` values (e.g. a numpy array).
    pub fn update_into(&mut self, ts: &[f64], fs: &[f64], out: &mut [f64]) -> Result<()> {
        check_length(ts.len(), fs, "frequency")?;
        if out.len() == ts.len() && ts.len() >= FUSED_CHECK_MIN {
            // check while copying into the history (one read of the input instead of two), and
            // put everything back if the chunk turns out bad
            let before = self.clone();
            if self.run::<true>(crate::simd::level(), ts, fs, out) {
                return Ok(());
            }
            *self = before;
        }
        check_series(self.last_timestamp(), ts, fs, "frequency")?;
        if out.len() != ts.len() {
            return Err(input_err!(
                "output has {} values, expected {}",
                out.len(),
                ts.len()
            ));
        }
        self.run_unchecked(crate::simd::level(), ts, fs, out);
        Ok(())
    }

    /// The one code path of `step` and `update`, so any chunking gives the same bits.
    fn run_unchecked(&mut self, level: Level, ts: &[f64], fs: &[f64], out: &mut [f64]) {
        self.run::<false>(level, ts, fs, out);
    }

    /// With `CHECKED`, each block is checked as `check_series` does while it is copied into the
    /// history, and the run stops at the first bad one: false (the state is then half updated).
    fn run<const CHECKED: bool>(
        &mut self,
        level: Level,
        ts: &[f64],
        fs: &[f64],
        out: &mut [f64],
    ) -> bool {
        match level {
            // Safety: `level` says the CPU has the features
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => unsafe { self.run_avx512::<CHECKED>(ts, fs, out) },
            _ => self.run_blocks::<false, CHECKED>(ts, fs, out),
        }
    }

    /// # Safety
    /// The CPU must have the AVX-512 features (`simd::level()`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
    unsafe fn run_avx512<const CHECKED: bool>(
        &mut self,
        ts: &[f64],
        fs: &[f64],
        out: &mut [f64],
    ) -> bool {
        self.run_blocks::<true, CHECKED>(ts, fs, out)
    }

    #[inline(always)]
    fn run_blocks<const AVX512: bool, const CHECKED: bool>(
        &mut self,
        ts: &[f64],
        fs: &[f64],
        out: &mut [f64],
    ) -> bool {
        let (t_all, f_all) = (ts.as_ptr(), fs.as_ptr());
        for (b, ((ts, fs), out)) in ts
            .chunks(BLOCK)
            .zip(fs.chunks(BLOCK))
            .zip(out.chunks_mut(BLOCK))
            .enumerate()
        {
            // the next block's samples, fetched from memory while this block is computed (only
            // an address: prefetching past the end of the input is harmless)
            let next = (b + 1) * BLOCK;
            let ahead = (t_all.wrapping_add(next), f_all.wrapping_add(next));
            if !self.block::<AVX512, CHECKED>(ts, fs, out, ahead) {
                return false;
            }
        }
        true
    }

    #[inline(always)]
    fn block<const AVX512: bool, const CHECKED: bool>(
        &mut self,
        ts: &[f64],
        fs: &[f64],
        out: &mut [f64],
        ahead: (*const f64, *const f64),
    ) -> bool {
        let (Some(&t_first), Some(&f_first)) = (ts.first(), fs.first()) else {
            return true;
        };
        let least_squares = self.cfg.method == RocofMethod::LeastSquares;
        let window = self.cfg.window;
        let n0 = self.n;
        let h = &mut self.hist;
        h.reserve(n0, ts.len(), self.lo.min(n0 / GROUP as u64 * GROUP as u64));
        if n0 == 0 {
            self.first_t = Some(t_first);
            h.start(t_first, f_first);
        }
        // a chunk still to be checked is checked by the loops below, on the values they load
        // anyway (one read of the input, no pass of its own)
        h.put(n0, ts, fs);
        let mut ok = true;
        let n1 = n0 + ts.len() as u64;
        let first_t = self.first_t.unwrap_or(t_first);
        // the first sample ever has an infinite interval: it cannot evict or be ready
        let mut prev_t = self.last_t.unwrap_or(f64::NEG_INFINITY);
        let (mut lo, mut ready) = (self.lo, self.ready);
        let mut i = n0;
        while i < n1 {
            let gs = i / GROUP as u64 * GROUP as u64;
            let ge = (gs + GROUP as u64).min(n1);
            if least_squares && i == gs && gs > 0 {
                h.maybe_rebase(gs, lo);
            }
            // whole groups in steady state: window starts, sums and slopes in vector registers
            #[cfg(target_arch = "x86_64")]
            if AVX512 && least_squares && ready && i == gs && lo > 0 && lo + 3 <= gs {
                let o = &mut out[(i - n0) as usize..];
                // Safety: AVX512 is only true inside `run_avx512`; the conditions above
                let skip = (i - n0) as usize;
                let ahead = (ahead.0.wrapping_add(skip), ahead.1.wrapping_add(skip));
                let (groups, new_lo) = unsafe {
                    crate::slope_window::steady::whole_groups::<CHECKED>(
                        h, gs, n1, lo, window, o, &mut ok, ahead,
                    )
                };
                if groups > 0 {
                    lo = new_lo;
                    i = gs + (groups * GROUP) as u64;
                    prev_t = ts[(i - 1 - n0) as usize];
                    continue;
                }
            }
            let (mut los, mut readys) = ([0u64; GROUP], [false; GROUP]);
            for j in i..ge {
                let t = ts[(j - n0) as usize];
                let dt = t - prev_t;
                if CHECKED {
                    // as `check_series`: after the sample before (t − prev > 0 exactly when
                    // t > prev; the first sample ever has prev = −∞), finite, f finite
                    let f = fs[(j - n0) as usize];
                    ok &= (dt > 0.0) & (t < f64::INFINITY) & (f.abs() < f64::INFINITY);
                }
                prev_t = t;
                let slack = JITTER_SHARE * dt.min(window) + time_resolution(t);
                let oldest_allowed = window + slack;
                // at least two samples stay, so that 1 Hz polling with a 0.5 s window has a slope
                while j - lo + 1 > 2 && t - h.t[h.slot(lo)] > oldest_allowed {
                    lo += 1;
                }
                if !ready {
                    ready = j - lo + 1 >= 2 && t - first_t >= window - slack;
                }
                let k = (j - gs) as usize;
                (los[k], readys[k]) = (lo, ready);
            }
            let (a, b) = ((i - gs) as usize, (ge - gs) as usize);
            let o = &mut out[(i - n0) as usize..(ge - n0) as usize];
            if least_squares {
                h.group::<AVX512>(gs, &los, &readys, a, b, o);
            } else {
                for (k, o) in (a..b).zip(o.iter_mut()) {
                    let (sj, sl) = (h.slot(gs + k as u64), h.slot(los[k]));
                    *o = if readys[k] {
                        (h.f[sj] - h.f[sl]) / (h.t[sj] - h.t[sl])
                    } else {
                        f64::NAN
                    };
                }
            }
            i = ge;
        }
        if CHECKED && !ok {
            return false;
        }
        let tau = self.cfg.smoothing;
        if tau > 0.0 {
            let mut prev = self.last_t.unwrap_or(f64::NEG_INFINITY);
            for (o, &t) in out.iter_mut().zip(ts) {
                let dt = t - prev;
                prev = t;
                if o.is_nan() {
                    continue;
                }
                let s = match self.smoothed {
                    // first-order lag discretised with the actual interval, so jitter and gaps
                    // are handled: alpha = 1 − exp(−dt/tau)
                    Some(s) => s + (-(-dt / tau).exp_m1()) * (*o - s),
                    None => *o,
                };
                self.smoothed = Some(s);
                *o = s;
            }
        }
        (self.lo, self.ready, self.n) = (lo, ready, n1);
        self.last_t = Some(prev_t);
        true
    }

    /// Samples in the window after the newest sample.
    #[cfg(test)]
    fn window_len(&self) -> usize {
        (self.n - self.lo) as usize
    }

    /// The window's (t, f) samples, oldest first.
    #[cfg(test)]
    fn window_samples(&self) -> Vec<(f64, f64)> {
        (self.lo..self.n)
            .map(|j| {
                (
                    self.hist.t[self.hist.slot(j)],
                    self.hist.f[self.hist.slot(j)],
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
