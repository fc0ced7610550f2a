//! Keeps a published energy counter monotonic while the meter's raw counter wraps, is reset
//! (meter replaced, register cleared, vendor firmware quirks) or the process restarts.
//!
//! A drop of the raw counter is a wrap when the counter has a known span (2^bits · scale) and
//! the wrapped increment is plausible (≤ `max_increment`, default span/16): a 32-bit counter going
//! from 0xFFFFFFF0 to 0x00000010 advanced by 32 counts. Any other drop is a reset: it is flagged,
//! the published counter holds its value (never goes backwards), and it advances again with the new
//! raw counter's increments.

use crate::error::Result;
use crate::input_err;

/// What a raw value meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterEvent {
    /// An ordinary sample (the counter stayed or advanced).
    None,
    /// The first sample, or the first after a restore without a saved raw value.
    First,
    /// The raw counter wrapped past its span; the published counter advanced by the wrapped delta.
    Wrap,
    /// The raw counter dropped and it was not a wrap: flagged, the published counter holds.
    Reset,
}

impl CounterEvent {
    /// Small-integer code used by the Python binding: 0 none, 1 first, 2 wrap, 3 reset.
    pub fn code(self) -> u8 {
        match self {
            CounterEvent::None => 0,
            CounterEvent::First => 1,
            CounterEvent::Wrap => 2,
            CounterEvent::Reset => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CounterEvent::None => "none",
            CounterEvent::First => "first",
            CounterEvent::Wrap => "wrap",
            CounterEvent::Reset => "reset",
        }
    }
}

/// Everything needed to continue after a restart.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CounterState {
    /// The published (monotonic) counter, None before the first sample.
    pub published: Option<f64>,
    /// The last raw value seen, None before the first sample.
    pub last_raw: Option<f64>,
    /// The largest increment accepted as a wrap; None = span/16.
    pub max_increment: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CounterTracker {
    state: CounterState,
}

impl CounterTracker {
    pub fn new(max_increment: Option<f64>) -> Result<Self> {
        Self::from_state(CounterState {
            max_increment,
            ..CounterState::default()
        })
    }

    /// Continue from a saved state, after checking it is one this tracker could have produced.
    pub fn from_state(s: CounterState) -> Result<Self> {
        let nonneg = |v: Option<f64>, what: &str| match v {
            Some(x) if !(x.is_finite() && x >= 0.0) => Err(input_err!(
                "counter state {what} is {x}; expected a finite value >= 0 or None"
            )),
            _ => Ok(()),
        };
        nonneg(s.published, "published")?;
        nonneg(s.last_raw, "last_raw")?;
        if let Some(m) = s.max_increment {
            if !(m.is_finite() && m > 0.0) {
                return Err(input_err!(
                    "max_increment is {m}; expected a finite value > 0 (counter units), or None for span/16"
                ));
            }
        }
        if s.last_raw.is_some() && s.published.is_none() {
            return Err(input_err!(
                "counter state has last_raw but no published value; expected both (or published alone)"
            ));
        }
        Ok(CounterTracker { state: s })
    }

    pub fn state(&self) -> CounterState {
        self.state
    }

    pub fn published(&self) -> Option<f64> {
        self.state.published
    }

    /// One raw value. The caller guarantees `value` finite and ≥ 0. `modulus`: the raw counter's
    /// span in value units (2^bits · scale), or None for a counter that does not wrap.
    pub fn step(&mut self, value: f64, modulus: Option<f64>) -> (f64, CounterEvent) {
        let s = &mut self.state;
        let (published, event) = match (s.last_raw, s.published) {
            (Some(prev), Some(published)) => {
                if value >= prev {
                    (published + (value - prev), CounterEvent::None)
                } else {
                    let wrapped = modulus.map(|m| {
                        let limit = s.max_increment.unwrap_or(m / 16.0);
                        (value + m - prev, limit)
                    });
                    match wrapped {
                        Some((delta, limit)) if delta >= 0.0 && delta <= limit => {
                            (published + delta, CounterEvent::Wrap)
                        }
                        _ => (published, CounterEvent::Reset),
                    }
                }
            }
            // restored with a published value but no raw value: continue from it
            (None, Some(published)) => (published, CounterEvent::First),
            _ => (value, CounterEvent::First),
        };
        s.last_raw = Some(value);
        s.published = Some(published);
        (published, event)
    }

    /// A chunk of raw values, checked first (finite, ≥ 0, below the modulus); on error nothing
    /// changes.
    pub fn update(
        &mut self,
        values: &[f64],
        modulus: Option<f64>,
    ) -> Result<(Vec<f64>, Vec<CounterEvent>)> {
        if let Some(m) = modulus {
            if !(m.is_finite() && m > 0.0) {
                return Err(input_err!(
                    "counter modulus is {m}; expected a finite span > 0 (2^bits · scale)"
                ));
            }
        }
        let bad = |v: f64| !(v.is_finite() && v >= 0.0) || modulus.is_some_and(|m| v >= m);
        if let Some(i) = values.iter().position(|&v| bad(v)) {
            let v = values[i];
            return Err(match modulus {
                Some(m) if v.is_finite() && v >= 0.0 => input_err!(
                    "counter values[{i}] is {v}, at or beyond the counter's span {m}; \
                     expected raw counter values in [0, span) (check bits and scale)"
                ),
                _ => input_err!("counter values[{i}] is {v}; expected finite counter values >= 0"),
            });
        }
        let mut published = Vec::with_capacity(values.len());
        let mut events = Vec::with_capacity(values.len());
        for &v in values {
            let (p, e) = self.step(v, modulus);
            published.push(p);
            events.push(e);
        }
        Ok((published, events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U32: f64 = 4294967296.0;

    #[test]
    fn wrap_of_a_32_bit_counter_advances_by_32() {
        let mut c = CounterTracker::new(None).unwrap();
        let (p, e) = c.update(&[0xFFFF_FFF0u32 as f64, 16.0], Some(U32)).unwrap();
        assert_eq!(e, [CounterEvent::First, CounterEvent::Wrap]);
        assert_eq!(p[1] - p[0], 32.0);
    }

    #[test]
    fn reset_is_flagged_and_published_never_decreases() {
        let mut c = CounterTracker::new(None).unwrap();
        let (p, e) = c
            .update(&[1000.0, 1500.0, 20.0, 25.0, 25.0], Some(U32))
            .unwrap();
        assert_eq!(
            e,
            [
                CounterEvent::First,
                CounterEvent::None,
                CounterEvent::Reset,
                CounterEvent::None,
                CounterEvent::None
            ]
        );
        assert_eq!(p, [1000.0, 1500.0, 1500.0, 1505.0, 1505.0]);
    }

    #[test]
    fn without_a_modulus_every_drop_is_a_reset() {
        let mut c = CounterTracker::new(None).unwrap();
        let (_, e) = c.update(&[100.0, 99.0], None).unwrap();
        assert_eq!(e[1], CounterEvent::Reset);
    }

    #[test]
    fn max_increment_bounds_what_counts_as_a_wrap() {
        let mut c = CounterTracker::new(Some(10.0)).unwrap();
        let (p, e) = c.update(&[65530.0, 3.0, 0.0], Some(65536.0)).unwrap();
        assert_eq!(e[1], CounterEvent::Wrap);
        assert_eq!(p[1], 65530.0 + 9.0);
        assert_eq!(e[2], CounterEvent::Reset);
        // default limit: span/16 = 4096 for a 16-bit counter
        let mut c = CounterTracker::new(None).unwrap();
        let (_, e) = c
            .update(&[60000.0, 1000.0, 63000.0, 1.0], Some(65536.0))
            .unwrap();
        assert_eq!(e[1], CounterEvent::Reset); // 1000 + 65536 − 60000 = 6536 > 4096
        assert_eq!(e[3], CounterEvent::Wrap); // 1 + 65536 − 63000 = 2537 <= 4096
    }

    #[test]
    fn save_and_restore_across_a_restart() {
        let mut c = CounterTracker::new(None).unwrap();
        c.update(&[500.0, 700.0], None).unwrap();
        let saved = c.state();
        let mut again = CounterTracker::from_state(saved).unwrap();
        let (p, e) = again.update(&[710.0], None).unwrap();
        assert_eq!((p[0], e[0]), (710.0, CounterEvent::None));
        // restarted meter reads lower than the saved raw value: a reset, published holds
        let mut again = CounterTracker::from_state(saved).unwrap();
        let (p, e) = again.update(&[3.0, 4.0], None).unwrap();
        assert_eq!(e, [CounterEvent::Reset, CounterEvent::None]);
        assert_eq!(p, [700.0, 701.0]);
        // published only: the first sample continues from it
        let mut again = CounterTracker::from_state(CounterState {
            published: Some(42.0),
            ..CounterState::default()
        })
        .unwrap();
        let (p, e) = again.update(&[5.0, 6.0], None).unwrap();
        assert_eq!(e, [CounterEvent::First, CounterEvent::None]);
        assert_eq!(p, [42.0, 43.0]);
    }

    #[test]
    fn bad_input_and_bad_state_are_refused() {
        let mut c = CounterTracker::new(None).unwrap();
        c.update(&[5.0], Some(U32)).unwrap();
        let before = c.clone();
        assert!(c.update(&[6.0, f64::NAN], Some(U32)).is_err());
        assert!(c.update(&[6.0, -1.0], Some(U32)).is_err());
        assert!(c.update(&[6.0, U32], Some(U32)).is_err());
        assert!(c.update(&[6.0], Some(0.0)).is_err());
        assert_eq!(c, before);
        assert!(CounterTracker::new(Some(0.0)).is_err());
        assert!(CounterTracker::from_state(CounterState {
            published: None,
            last_raw: Some(1.0),
            max_increment: None
        })
        .is_err());
        assert!(CounterTracker::from_state(CounterState {
            published: Some(-1.0),
            last_raw: None,
            max_increment: None
        })
        .is_err());
    }
}
