//! Energy from power: import and export counters integrated from a timestamped power series, for
//! meters that have no energy registers of their own.
//!
//! Trapezoids, exact on linear power ramps (left or right rectangles are off by ~2.8e-4 on a
//! 0→10 kW ramp over an hour of 1 s samples). Import (p > 0) and export (p < 0) are accumulated
//! separately, never netted; an interval whose power changes sign is split at the interpolated
//! zero crossing so each side gets its own part. Across an interval longer than `max_gap` nothing
//! is integrated and the gap is reported: a trapezoid from a 0 W sample to a 6 kW sample 14 days
//! later would invent ~1008 kWh.

use crate::compensated::{LaneSums, Sum, LANES};
use crate::error::Result;
use crate::input_err;
use crate::rocof::{check_length, check_series, check_timestamps};
use crate::simd::Level;

const WS_PER_KWH: f64 = 3.6e6;

/// Intervals per block of the vectorised loop (a multiple of LANES, kept in L1 cache).
const BLOCK: usize = 256;

/// What an integrator carries over a restart: its totals. Kept in W·s, the unit of the sums, so
/// that saving and restoring is exact (a round trip through kWh could lose the last bit, and a
/// published counter would step back by it).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EnergyState {
    pub import_ws: f64,
    pub export_ws: f64,
    pub gap_count: u64,
    pub gap_seconds: f64,
}

/// Import and export W·s of one interval from (p0) to (p1) lasting `dt` s, and whether it is a gap
/// (longer than `max_gap`: nothing integrated). Branch-free, so that the block loop vectorises and
/// power of any sign costs the same: every case is computed and the right one selected.
#[inline(always)]
fn interval(p0: f64, p1: f64, dt: f64, max_gap: f64) -> (f64, f64, bool) {
    let whole = 0.5 * (p0 + p1) * dt;
    // strict sign change: two triangles meeting at the zero crossing, whose bases are
    // dt·|p0|/|p0 − p1| and dt·|p1|/|p0 − p1| (no cancellation: |p0 − p1| = |p0| + |p1|)
    let swing = (p0 - p1).abs();
    let half_dt_per_swing = 0.5 * dt / swing; // one division per interval
    let before = p0 * p0 * half_dt_per_swing;
    let after = p1 * p1 * half_dt_per_swing;
    let import = (p0 >= 0.0) & (p1 >= 0.0);
    let export = (p0 <= 0.0) & (p1 <= 0.0);
    let falling = p0 > 0.0;
    let gap = dt > max_gap;
    let imp = if import {
        whole
    } else if export {
        0.0
    } else if falling {
        before
    } else {
        after
    };
    let exp = if import {
        0.0
    } else if export {
        -whole
    } else if falling {
        after
    } else {
        before
    };
    (
        if gap { 0.0 } else { imp },
        if gap { 0.0 } else { exp },
        gap,
    )
}

/// Streaming import/export integrator for one power series (W → kWh, or VAR → kVARh).
/// Bit-identical results for any chunking of the same samples.
#[derive(Clone, Copy, Debug)]
pub struct EnergyIntegrator {
    max_gap: f64,
    compensated: bool,
    last: Option<(f64, f64)>,
    /// intervals seen so far (gaps included): the next interval's lane is `intervals % LANES`
    intervals: u64,
    import_ws: LaneSums,
    export_ws: LaneSums,
    gap_count: u64,
    gap_seconds: Sum,
}

impl EnergyIntegrator {
    /// `max_gap`: the longest interval (s) integrated; longer ones count as gaps (may be +inf).
    pub fn new(max_gap: f64, compensated: bool) -> Result<Self> {
        if max_gap.is_nan() || max_gap <= 0.0 {
            return Err(input_err!(
                "max_gap is {max_gap} s; expected a number of seconds > 0 (e.g. 60), or inf for no limit"
            ));
        }
        Ok(EnergyIntegrator {
            max_gap,
            compensated,
            last: None,
            intervals: 0,
            import_ws: LaneSums::default(),
            export_ws: LaneSums::default(),
            gap_count: 0,
            gap_seconds: Sum::default(),
        })
    }

    pub fn max_gap(&self) -> f64 {
        self.max_gap
    }

    pub fn compensated(&self) -> bool {
        self.compensated
    }

    /// One sample. The caller guarantees `t` finite and after the previous sample's, `p` finite.
    #[inline]
    pub fn step(&mut self, t: f64, p: f64) {
        if self.compensated {
            self.step_with::<true>(t, p)
        } else {
            self.step_with::<false>(t, p)
        }
    }

    #[inline(always)]
    fn step_with<const C: bool>(&mut self, t: f64, p: f64) {
        if let Some((t0, p0)) = self.last {
            let dt = t - t0;
            let (imp, exp, gap) = interval(p0, p, dt, self.max_gap);
            let lane = (self.intervals % LANES as u64) as usize;
            self.import_ws.add::<C>(lane, imp);
            self.export_ws.add::<C>(lane, exp);
            if gap {
                self.gap_count += 1;
                self.gap_seconds.add(dt, C);
            }
            self.intervals += 1;
        }
        self.last = Some((t, p));
    }

    /// A chunk, checked as a whole first (lengths, timestamps finite and increasing, also past the
    /// last accepted one, power finite); on error nothing changes.
    pub fn update(&mut self, ts: &[f64], ps: &[f64]) -> Result<()> {
        check_length(ts.len(), ps, "power")?;
        // integrate into a copy while checking, in one pass over the data; commit if all was valid
        let mut next = *self;
        if !next.run(ts, ps) {
            check_series(self.last_timestamp(), ts, ps, "power")?;
            return Err(input_err!("power chunk refused")); // check_series names the sample
        }
        *self = next;
        Ok(())
    }

    /// Integrate a chunk; false (and a partly updated integrator, to be discarded) if a sample is
    /// not finite or not after the previous one.
    #[inline]
    fn run(&mut self, ts: &[f64], ps: &[f64]) -> bool {
        self.run_at(crate::simd::level(), ts, ps)
    }

    /// `run` with the copy of the loop compiled for `level` (which the CPU must have).
    fn run_at(&mut self, level: Level, ts: &[f64], ps: &[f64]) -> bool {
        match (level, self.compensated) {
            // Safety: `level()` found the features on this CPU
            #[cfg(target_arch = "x86_64")]
            (Level::Avx512, true) => unsafe { self.run_avx512::<true>(ts, ps) },
            #[cfg(target_arch = "x86_64")]
            (Level::Avx512, false) => unsafe { self.run_avx512::<false>(ts, ps) },
            #[cfg(target_arch = "x86_64")]
            (Level::Avx2, true) => unsafe { self.run_avx2::<true>(ts, ps) },
            #[cfg(target_arch = "x86_64")]
            (Level::Avx2, false) => unsafe { self.run_avx2::<false>(ts, ps) },
            (_, true) => self.run_with::<true>(ts, ps),
            (_, false) => self.run_with::<false>(ts, ps),
        }
    }

    /// # Safety
    /// The CPU must have the AVX-512 features (`simd::level()`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
    unsafe fn run_avx512<const C: bool>(&mut self, ts: &[f64], ps: &[f64]) -> bool {
        self.run_with::<C>(ts, ps)
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2<const C: bool>(&mut self, ts: &[f64], ps: &[f64]) -> bool {
        self.run_with::<C>(ts, ps)
    }

    #[inline(always)]
    fn run_with<const C: bool>(&mut self, ts: &[f64], ps: &[f64]) -> bool {
        let n = ts.len().min(ps.len());
        let (ts, ps) = (&ts[..n], &ps[..n]);
        let mut prev = self.last_timestamp().unwrap_or(f64::NEG_INFINITY);
        // one sample at a time until the next interval falls in lane 0 (and past the first
        // sample, whose predecessor is the state's); then blocks, then the rest one at a time
        let mut j = 0;
        while j < n && (j == 0 || !self.intervals.is_multiple_of(LANES as u64)) {
            if !self.step_checked::<C>(&mut prev, ts[j], ps[j]) {
                return false;
            }
            j += 1;
        }
        let max_gap = self.max_gap;
        let (mut imp, mut exp, mut dts) = ([0.0; BLOCK], [0.0; BLOCK], [0.0; BLOCK]);
        while j + LANES <= n {
            let len = (n - j).min(BLOCK) / LANES * LANES;
            let (t1, p1) = (&ts[j..j + len], &ps[j..j + len]);
            let (t0, p0) = (&ts[j - 1..j - 1 + len], &ps[j - 1..j - 1 + len]);
            let (mut bad, mut gaps) = (false, false);
            for (k, (((&t1, &t0), &p1), &p0)) in t1.iter().zip(t0).zip(p1).zip(p0).enumerate() {
                let dt = t1 - t0;
                let (i, e, gap) = interval(p0, p1, dt, max_gap);
                imp[k] = i;
                exp[k] = e;
                dts[k] = dt;
                bad |= !((t1 > t0) & (t1 < f64::INFINITY) & p1.is_finite());
                gaps |= gap;
            }
            if bad {
                return false;
            }
            self.import_ws.add_groups::<C>(&imp[..len]);
            self.export_ws.add_groups::<C>(&exp[..len]);
            if gaps {
                for &dt in dts[..len].iter().filter(|&&dt| dt > max_gap) {
                    self.gap_count += 1;
                    self.gap_seconds.add(dt, C);
                }
            }
            self.intervals += len as u64;
            j += len;
        }
        if j > 0 {
            prev = ts[j - 1];
            self.last = Some((ts[j - 1], ps[j - 1]));
        }
        while j < n {
            if !self.step_checked::<C>(&mut prev, ts[j], ps[j]) {
                return false;
            }
            j += 1;
        }
        true
    }

    /// One sample after the one at `prev`, checked as `update` checks a chunk (after it, finite,
    /// power finite): false, and nothing done, if it fails.
    #[inline(always)]
    fn step_checked<const C: bool>(&mut self, prev: &mut f64, t: f64, p: f64) -> bool {
        if !(t > *prev && t < f64::INFINITY && p.is_finite()) {
            return false;
        }
        self.step_with::<C>(t, p);
        *prev = t;
        true
    }

    /// The totals, to continue from after a restart.
    pub fn state(&self) -> EnergyState {
        EnergyState {
            import_ws: self.import_ws.value(),
            export_ws: self.export_ws.value(),
            gap_count: self.gap_count,
            gap_seconds: self.gap_seconds.value(),
        }
    }

    /// Continue from the totals of `s`. The sample history is kept as it is (none, for a fresh
    /// integrator): the interval across a restart was not observed and is not integrated.
    /// Refused, changing nothing, if a total is not finite and ≥ 0 or is below this integrator's
    /// own: energy never goes backwards.
    pub fn restore(&mut self, s: &EnergyState) -> Result<()> {
        let own = self.state();
        for (what, saved, now) in [
            ("import_ws", s.import_ws, own.import_ws),
            ("export_ws", s.export_ws, own.export_ws),
            ("gap_seconds", s.gap_seconds, own.gap_seconds),
        ] {
            if !(saved.is_finite() && saved >= 0.0) {
                return Err(input_err!(
                    "energy state {what} is {saved}; expected a finite total >= 0"
                ));
            }
            if saved < now {
                return Err(input_err!(
                    "energy state {what} is {saved}, below this integrator's {now}; \
                     restoring it would make energy go backwards"
                ));
            }
        }
        self.import_ws = LaneSums::from_total(s.import_ws);
        self.export_ws = LaneSums::from_total(s.export_ws);
        self.gap_count = s.gap_count.max(own.gap_count);
        self.gap_seconds = Sum::from_total(s.gap_seconds);
        Ok(())
    }

    pub fn import_kwh(&self) -> f64 {
        self.import_ws.value() / WS_PER_KWH
    }

    pub fn export_kwh(&self) -> f64 {
        self.export_ws.value() / WS_PER_KWH
    }

    /// Number of intervals longer than `max_gap` (not integrated).
    pub fn gap_count(&self) -> u64 {
        self.gap_count
    }

    /// Total length of those intervals.
    pub fn gap_seconds(&self) -> f64 {
        self.gap_seconds.value()
    }

    pub fn last_timestamp(&self) -> Option<f64> {
        self.last.map(|s| s.0)
    }

    /// Forget the last sample and keep the sums: the next sample starts a new series, with
    /// nothing integrated between them (the wall clock stepped back).
    pub fn restart_series(&mut self) {
        self.last = None;
    }
}

/// One `EnergyIntegrator` per phase, fed with rows of a samples × phases block (row-major), as a
/// per-phase meter's power arrives. The number of phases is fixed by the first block.
#[derive(Clone, Debug)]
pub struct PhaseEnergyIntegrator {
    max_gap: f64,
    compensated: bool,
    phases: Vec<EnergyIntegrator>,
}

impl PhaseEnergyIntegrator {
    pub fn new(max_gap: f64, compensated: bool) -> Result<Self> {
        EnergyIntegrator::new(max_gap, compensated)?;
        Ok(PhaseEnergyIntegrator {
            max_gap,
            compensated,
            phases: Vec::new(),
        })
    }

    pub fn max_gap(&self) -> f64 {
        self.max_gap
    }

    pub fn compensated(&self) -> bool {
        self.compensated
    }

    pub fn phases(&self) -> &[EnergyIntegrator] {
        &self.phases
    }

    pub fn last_timestamp(&self) -> Option<f64> {
        self.phases.first().and_then(|p| p.last_timestamp())
    }

    /// Whether `step_one(t, v)` takes the sample: one phase (or none yet), t after the last
    /// sample and finite, v finite. Otherwise `update` is the path (and names what is wrong).
    pub fn accepts_one(&self, t: f64, v: f64) -> bool {
        self.phases.len() <= 1
            && t > self.last_timestamp().unwrap_or(f64::NEG_INFINITY)
            && t < f64::INFINITY
            && v.is_finite()
    }

    /// `update` with one sample of one phase, in place (no copy to commit): the per-frame path of
    /// a stream. The caller has checked `accepts_one(t, v)`.
    pub fn step_one(&mut self, t: f64, v: f64) -> Result<()> {
        debug_assert!(self.accepts_one(t, v));
        if self.phases.is_empty() {
            self.phases = vec![EnergyIntegrator::new(self.max_gap, self.compensated)?];
        }
        self.phases[0].step(t, v);
        Ok(())
    }

    /// The shape of a block and its phase count against earlier blocks.
    fn check_shape(&self, rows: usize, values: &[f64], columns: usize, name: &str) -> Result<()> {
        if columns == 0 {
            return Err(input_err!(
                "{name} has 0 columns; expected one column per phase (or a 1-D total)"
            ));
        }
        if !self.phases.is_empty() && self.phases.len() != columns {
            return Err(input_err!(
                "{name} has {columns} column(s) but this integrator was started with {}; \
                 expected the same phases on every update",
                self.phases.len()
            ));
        }
        if values.len() != rows * columns {
            return Err(input_err!(
                "{name} has {} rows but timestamps has {rows}; expected one row per timestamp",
                values.len() / columns
            ));
        }
        Ok(())
    }

    /// This integrator after a block of `ts.len()` rows × `columns` values (row-major), or why
    /// the block was refused; `self` is not touched, so a caller feeding several integrators
    /// (active and reactive) can commit all of them or none. `name` is used in messages.
    pub fn integrated(
        &self,
        ts: &[f64],
        values: &[f64],
        columns: usize,
        name: &str,
    ) -> Result<Self> {
        self.check_shape(ts.len(), values, columns, name)?;
        let mut next = self.clone();
        if next.phases.is_empty() {
            let proto = EnergyIntegrator::new(self.max_gap, self.compensated)?;
            next.phases = vec![proto; columns];
        }
        let complete = if columns == 1 {
            next.phases[0].run(ts, values)
        } else {
            // checked row by row as it goes, in one pass over the data
            let mut prev = self.last_timestamp().unwrap_or(f64::NEG_INFINITY);
            let mut complete = true;
            for (row, &t) in values.chunks_exact(columns).zip(ts) {
                if !(t > prev && t < f64::INFINITY && row.iter().all(|v| v.is_finite())) {
                    complete = false;
                    break;
                }
                for (phase, &p) in next.phases.iter_mut().zip(row) {
                    phase.step(t, p);
                }
                prev = t;
            }
            complete
        };
        if complete {
            return Ok(next);
        }
        check_timestamps(self.last_timestamp(), ts)?;
        let i = values.iter().position(|v| !v.is_finite()).unwrap_or(0);
        let at = if columns == 1 {
            format!("{i}")
        } else {
            format!("{}, {}", i / columns, i % columns)
        };
        Err(input_err!(
            "{name}[{at}] is {}; expected finite values (drop missing samples, with their timestamps)",
            values.get(i).copied().unwrap_or(f64::NAN)
        ))
    }

    /// Integrate a block; on error nothing changes.
    pub fn update(&mut self, ts: &[f64], values: &[f64], columns: usize) -> Result<()> {
        *self = self.integrated(ts, values, columns, "power")?;
        Ok(())
    }

    /// The totals of each phase, to continue from after a restart (empty before the first block).
    pub fn state(&self) -> Vec<EnergyState> {
        self.phases.iter().map(|p| p.state()).collect()
    }

    /// Continue from `state()`: a fresh integrator takes the saved phases (with no sample history:
    /// the gap across a restart is not integrated); one already started must have as many phases.
    /// Each phase is checked as `EnergyIntegrator::restore` does; on error nothing changes.
    pub fn restore(&mut self, saved: &[EnergyState]) -> Result<()> {
        let mut next = self.clone();
        if next.phases.is_empty() {
            let proto = EnergyIntegrator::new(self.max_gap, self.compensated)?;
            next.phases = vec![proto; saved.len()];
        } else if next.phases.len() != saved.len() {
            return Err(input_err!(
                "energy state has {} phase(s) but this integrator has {}",
                saved.len(),
                next.phases.len()
            ));
        }
        for (i, (phase, s)) in next.phases.iter_mut().zip(saved).enumerate() {
            phase.restore(s).map_err(|e| input_err!("phase {i}: {e}"))?;
        }
        *self = next;
        Ok(())
    }

    pub fn import_kwh(&self) -> f64 {
        self.phases.iter().map(|p| p.import_kwh()).sum()
    }

    pub fn export_kwh(&self) -> f64 {
        self.phases.iter().map(|p| p.export_kwh()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1.8e9;

    fn integ() -> EnergyIntegrator {
        EnergyIntegrator::new(60.0, true).unwrap()
    }

    #[test]
    fn trapezoid_is_exact_on_a_ramp() {
        // 0 → 10 kW over one hour of 1 s samples is exactly 5 kWh
        let ts: Vec<f64> = (0..=3600).map(|k| T0 + k as f64).collect();
        let ps: Vec<f64> = (0..=3600).map(|k| k as f64 * 10_000.0 / 3600.0).collect();
        let mut e = integ();
        e.update(&ts, &ps).unwrap();
        assert!((e.import_kwh() - 5.0).abs() < 1e-12, "{}", e.import_kwh());
        assert_eq!(e.export_kwh(), 0.0);
    }

    #[test]
    fn sign_change_is_split_at_the_zero_crossing() {
        let mut e = integ();
        // +3 kW to −1 kW over 4 s: crossing after 3 s; import 0.5·3000·3, export 0.5·1000·1
        e.update(&[T0, T0 + 4.0], &[3000.0, -1000.0]).unwrap();
        assert!((e.import_kwh() * WS_PER_KWH - 4500.0).abs() < 1e-9);
        assert!((e.export_kwh() * WS_PER_KWH - 500.0).abs() < 1e-9);
        // and back: −1 kW to +1 kW over 2 s
        e.update(&[T0 + 6.0], &[1000.0]).unwrap();
        assert!((e.import_kwh() * WS_PER_KWH - 5000.0).abs() < 1e-9);
        assert!((e.export_kwh() * WS_PER_KWH - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn long_gaps_invent_no_energy() {
        let mut e = integ();
        let fortnight = 14.0 * 86400.0;
        e.update(&[T0, T0 + fortnight], &[0.0, 6000.0]).unwrap();
        assert_eq!(e.import_kwh(), 0.0);
        assert_eq!(e.gap_count(), 1);
        assert_eq!(e.gap_seconds(), fortnight);
        e.update(&[T0 + fortnight + 60.0], &[6000.0]).unwrap();
        assert!((e.import_kwh() - 0.1).abs() < 1e-12);
        assert_eq!(e.gap_count(), 1);
    }

    #[test]
    fn restarting_the_series_integrates_nothing_across_and_keeps_the_sums() {
        // 3600 W for 2 s is 2 Wh; then the clock steps back an hour: a new series begins there
        let mut e = integ();
        e.update(&[T0, T0 + 1.0, T0 + 2.0], &[3600.0; 3]).unwrap();
        e.restart_series();
        assert_eq!(e.last_timestamp(), None);
        e.update(&[T0 - 3600.0], &[3600.0]).unwrap();
        assert!((e.import_kwh() - 0.002).abs() < 1e-15, "{}", e.import_kwh());
        e.update(&[T0 - 3599.0], &[3600.0]).unwrap();
        assert!((e.import_kwh() - 0.003).abs() < 1e-15, "{}", e.import_kwh());
        assert_eq!(e.gap_count(), 0);
    }

    #[test]
    fn compensated_sum_beats_plain_sum() {
        let mut plain = Sum::default();
        let mut comp = Sum::default();
        plain.add(1e16, false);
        comp.add(1e16, true);
        for _ in 0..1000 {
            plain.add(1.0, false);
            comp.add(1.0, true);
        }
        assert_eq!(comp.value(), 1e16 + 1000.0);
        assert_eq!(plain.value(), 1e16);
        // the same in lanes: each lane compensated, and the lanes combined with compensation
        let mut lanes = LaneSums::default();
        lanes.add::<true>(3, 1e16);
        for k in 0..1000 {
            lanes.add::<true>(k % LANES, 1.0);
        }
        assert_eq!(lanes.value(), 1e16 + 1000.0);
    }

    #[test]
    fn chunking_is_bit_identical() {
        let ts: Vec<f64> = (0..5000).map(|k| T0 + k as f64 * 0.37).collect();
        let ps: Vec<f64> = (0..5000)
            .map(|k| 4000.0 * (k as f64 * 0.013).sin() + 300.0)
            .collect();
        let mut whole = integ();
        whole.update(&ts, &ps).unwrap();
        let mut parts = integ();
        for (a, b) in [(0, 1), (1, 2), (2, 999), (999, 4000), (4000, 5000)] {
            parts.update(&ts[a..b], &ps[a..b]).unwrap();
        }
        assert_eq!(whole.import_kwh().to_bits(), parts.import_kwh().to_bits());
        assert_eq!(whole.export_kwh().to_bits(), parts.export_kwh().to_bits());
    }

    #[test]
    fn vector_and_baseline_copies_agree_bit_for_bit() {
        // random sign, gaps and a ragged start: every case of the interval and the lane stepping
        let mut rnd = crate::test_rng::rng(12345);
        let mut t = T0;
        let (mut ts, mut ps) = (Vec::new(), Vec::new());
        for k in 0..3001 {
            t += if k % 500 == 7 { 100.0 } else { 0.5 + rnd() };
            ts.push(t);
            ps.push(if k % 97 == 3 {
                0.0
            } else {
                4000.0 * (rnd() - 0.5)
            });
        }
        for compensated in [true, false] {
            let mut base = EnergyIntegrator::new(60.0, compensated).unwrap();
            let mut steps = base;
            let mut copies = vec![base; 3];
            let levels = [Level::Baseline, Level::Avx2, Level::Avx512];
            for (a, b) in [(0, 3), (3, 1000), (1000, 3001)] {
                for (copy, &level) in copies.iter_mut().zip(&levels) {
                    if level <= crate::simd::level() {
                        assert!(copy.run_at(level, &ts[a..b], &ps[a..b]));
                    }
                }
            }
            base = copies[0];
            for (&t, &p) in ts.iter().zip(&ps) {
                steps.step(t, p);
            }
            let ran: Vec<EnergyIntegrator> = copies
                .iter()
                .zip(&levels)
                .filter(|(_, &l)| l <= crate::simd::level())
                .map(|(c, _)| *c)
                .collect();
            for other in ran.into_iter().chain([steps]) {
                assert_eq!(base.import_kwh().to_bits(), other.import_kwh().to_bits());
                assert_eq!(base.export_kwh().to_bits(), other.export_kwh().to_bits());
                assert_eq!(base.gap_seconds().to_bits(), other.gap_seconds().to_bits());
                assert_eq!(base.gap_count(), other.gap_count());
            }
            assert_eq!(base.gap_count(), 6);
            assert!(base.import_kwh() > 0.0 && base.export_kwh() > 0.0);
        }
    }

    #[test]
    fn bad_chunks_change_nothing() {
        let mut e = integ();
        e.update(&[T0, T0 + 1.0], &[100.0, 200.0]).unwrap();
        let kwh = e.import_kwh();
        assert!(e.update(&[T0 + 2.0, T0 + 3.0], &[100.0, f64::NAN]).is_err());
        assert!(e.update(&[T0 + 1.0], &[100.0]).is_err());
        assert!(e.update(&[T0 + 2.0], &[100.0, 1.0]).is_err());
        assert_eq!(e.import_kwh(), kwh);
        assert_eq!(e.last_timestamp(), Some(T0 + 1.0));
        assert!(EnergyIntegrator::new(0.0, true).is_err());
        assert!(EnergyIntegrator::new(f64::NAN, true).is_err());
        assert!(EnergyIntegrator::new(f64::INFINITY, false).is_ok());
    }

    #[test]
    fn state_round_trip_is_exact_and_never_goes_backwards() {
        let mut e = integ();
        let ts: Vec<f64> = (0..100).map(|k| T0 + k as f64 * 0.7).collect();
        let ps: Vec<f64> = (0..100).map(|k| 1234.5 * (k as f64 * 0.1).sin()).collect();
        e.update(&ts, &ps).unwrap();
        let saved = e.state();
        // a fresh integrator continues the totals bit for bit, and integrates nothing across
        // the restart: the first sample after it only starts the history
        let mut again = integ();
        again.restore(&saved).unwrap();
        assert_eq!(again.import_kwh().to_bits(), e.import_kwh().to_bits());
        assert_eq!(again.export_kwh().to_bits(), e.export_kwh().to_bits());
        again.update(&[T0 + 100.0], &[5000.0]).unwrap();
        assert_eq!(again.import_kwh(), e.import_kwh());
        // 5 kW for 3.6 s after that is 5 Wh more
        again.update(&[T0 + 103.6], &[5000.0]).unwrap();
        let added = again.import_kwh() - e.import_kwh();
        assert!((added - 0.005).abs() < 1e-9, "{added}");
        // lower or non-finite totals are refused and change nothing
        let before = again.state();
        for bad in [
            EnergyState {
                import_ws: 0.0,
                ..before
            },
            EnergyState {
                export_ws: -1.0,
                ..before
            },
            EnergyState {
                import_ws: f64::NAN,
                ..before
            },
            EnergyState {
                gap_seconds: f64::INFINITY,
                ..before
            },
        ] {
            assert!(again.restore(&bad).is_err(), "{bad:?}");
            assert_eq!(again.state(), before);
        }
    }

    #[test]
    fn phases_accumulate_separately() {
        // L1 imports 1 kW, L2 exports 1 kW, L3 idle: per-phase accounting, not netted
        let rows = [1000.0, -1000.0, 0.0, 1000.0, -1000.0, 0.0];
        let mut e = PhaseEnergyIntegrator::new(7200.0, true).unwrap();
        e.update(&[T0, T0 + 3600.0], &rows, 3).unwrap();
        assert_eq!(e.import_kwh(), 1.0);
        assert_eq!(e.export_kwh(), 1.0);
        assert_eq!(e.phases()[2].import_kwh(), 0.0);
        let err = e.update(&[T0 + 3601.0], &[1.0, 2.0], 2).unwrap_err();
        assert!(err.to_string().contains("started with 3"), "{err}");
        let err = e
            .update(&[T0 + 3601.0], &[1.0, f64::NAN, 0.0], 3)
            .unwrap_err();
        assert!(err.to_string().contains("power[0, 1]"), "{err}");
    }
}
