//! Definite-time loss-of-mains protection on a RoCoF series (the trip that grid codes put on the
//! estimator's output).

use crate::error::Result;
use crate::input_err;
use crate::rocof::time_resolution;
use crate::series::{check_length, check_timestamps};

/// Definite-time loss-of-mains protection on a RoCoF series: trips when |RoCoF| ≥ threshold has
/// held continuously for at least `delay` seconds (GB: 1 Hz/s, 500 ms). "Over a window" is the
/// estimator's business; "for a delay" is this one's.
#[derive(Clone, Debug)]
pub struct RocofTrip {
    threshold: f64,
    delay: f64,
    /// Timestamp of the first sample of the current run of samples at or above the threshold.
    above_since: Option<f64>,
    last_t: Option<f64>,
    trip_time: Option<f64>,
}

impl RocofTrip {
    pub fn new(threshold: f64, delay: f64) -> Result<Self> {
        if !(threshold.is_finite() && threshold > 0.0) {
            return Err(input_err!(
                "RoCoF trip threshold is {threshold} Hz/s; expected a finite value > 0 (e.g. 1.0)"
            ));
        }
        if !(delay.is_finite() && delay >= 0.0) {
            return Err(input_err!(
                "RoCoF trip delay is {delay} s; expected a finite value >= 0 (e.g. 0.5)"
            ));
        }
        Ok(RocofTrip {
            threshold,
            delay,
            above_since: None,
            last_t: None,
            trip_time: None,
        })
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn delay(&self) -> f64 {
        self.delay
    }

    /// One sample (caller guarantees `t` finite and increasing). NaN (no estimate) breaks the
    /// persistence. Returns whether the trip condition holds at this sample.
    pub fn step(&mut self, t: f64, rocof: f64) -> bool {
        self.last_t = Some(t);
        if rocof.abs() >= self.threshold {
            let start = *self.above_since.get_or_insert(t);
            let holds = t - start >= self.delay - time_resolution(t);
            if holds && self.trip_time.is_none() {
                self.trip_time = Some(t);
            }
            holds
        } else {
            self.above_since = None;
            false
        }
    }

    /// A chunk: timestamps finite and increasing, RoCoF finite or NaN; on error nothing changes.
    pub fn update(&mut self, ts: &[f64], rocof: &[f64]) -> Result<Vec<bool>> {
        check_length(ts.len(), rocof, "rocof")?;
        check_timestamps(self.last_t, ts)?;
        if let Some(i) = rocof.iter().position(|r| r.is_infinite()) {
            return Err(input_err!(
                "rocof[{i}] is {}; expected finite values, or NaN where there is no estimate",
                rocof[i]
            ));
        }
        Ok(ts
            .iter()
            .zip(rocof)
            .map(|(&t, &r)| self.step(t, r))
            .collect())
    }

    /// Latched: true from the first trip until `reset`.
    pub fn tripped(&self) -> bool {
        self.trip_time.is_some()
    }

    /// Timestamp of the sample at which it first tripped (since the last reset).
    pub fn trip_time(&self) -> Option<f64> {
        self.trip_time
    }

    pub fn last_timestamp(&self) -> Option<f64> {
        self.last_t
    }

    /// Clear the latch. A condition that is still persisting keeps its start time, so it trips
    /// again at the next sample, as a relay reset during the event would.
    pub fn reset(&mut self) {
        self.trip_time = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1.8e9;

    fn grid(fs: f64, n: usize) -> Vec<f64> {
        (0..n).map(|k| T0 + k as f64 / fs).collect()
    }

    #[test]
    fn trip_needs_the_delay_and_latches() {
        let mut trip = RocofTrip::new(1.0, 0.5).unwrap();
        let ts = grid(10.0, 30);
        // above threshold for 0.3 s (samples 2..=5), then for 0.8 s (samples 10..=18)
        let r: Vec<f64> = (0..30)
            .map(|k| match k {
                2..=5 => 1.2,
                10..=18 => -1.5,
                _ => 0.1,
            })
            .collect();
        let out = trip.update(&ts, &r).unwrap();
        assert!(out[..15].iter().all(|&b| !b));
        assert!(out[15..=18].iter().all(|&b| b));
        assert!(!out[19]);
        assert!(trip.tripped());
        assert_eq!(trip.trip_time(), Some(ts[15]));
        trip.reset();
        assert!(!trip.tripped());
        assert_eq!(trip.trip_time(), None);
    }

    #[test]
    fn nan_breaks_persistence_and_infinity_is_refused() {
        let mut trip = RocofTrip::new(1.0, 0.2).unwrap();
        let ts = grid(10.0, 6);
        let out = trip
            .update(&ts, &[2.0, 2.0, f64::NAN, 2.0, 2.0, 2.0])
            .unwrap();
        assert_eq!(out, [false, false, false, false, false, true]);
        assert!(trip.update(&[T0 + 1.0], &[f64::INFINITY]).is_err());
        assert!(RocofTrip::new(0.0, 0.5).is_err());
        assert!(RocofTrip::new(1.0, -0.5).is_err());
    }
}
