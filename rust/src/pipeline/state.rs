//! What a `MeterPipeline` carries over a restart: its meter counters (published value, last raw
//! value), its integrated energy totals and its counter event counts. RoCoF is not kept: its
//! window is shorter than any restart.
//!
//! A restored state is checked against the pipeline before anything changes: a counter where the
//! pipeline integrates (or the other way round), a raw value beyond the counter's span, a
//! non-finite or negative total, or a total below what the pipeline already published is refused.

use super::{MeterPipeline, COUNTER_SLOTS};
use crate::channel;
use crate::counter::{CounterState, CounterTracker};
use crate::energy::{EnergyIntegrator, EnergyState};
use crate::error::Result;
use crate::input_err;

/// The channels of the counter slots, in slot order: import, export, reactive import, export.
pub fn counter_channels() -> [&'static str; 4] {
    COUNTER_SLOTS.map(|c| channel::NAMES[c])
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineState {
    /// Meter counters in `counter_channels()` order; None where the pipeline has no counter.
    pub counters: [Option<CounterState>; 4],
    /// Active energy integrated from power; None where the meter has counters.
    pub energy: Option<EnergyState>,
    /// Reactive energy integrated from reactive power.
    pub reactive_energy: Option<EnergyState>,
    pub counter_wraps: u64,
    pub counter_resets: u64,
}

fn presence(has: bool) -> &'static str {
    if has {
        "has"
    } else {
        "has no"
    }
}

fn restored_counter(
    name: &str,
    own: &CounterTracker,
    saved: &CounterState,
    modulus: Option<f64>,
) -> Result<CounterTracker> {
    let now = own.state();
    // the wrap limit is the pipeline's configuration, not part of what is carried over
    let next = CounterTracker::from_state(CounterState {
        max_increment: now.max_increment,
        ..*saved
    })
    .map_err(|e| input_err!("{name}: {e}"))?;
    if let (Some(raw), Some(m)) = (saved.last_raw, modulus) {
        if raw >= m {
            return Err(input_err!(
                "{name}: last_raw {raw} is at or beyond the counter's span {m}; \
                 expected a raw value this meter's register can hold"
            ));
        }
    }
    if let Some(p) = now.published {
        match saved.published {
            Some(s) if s >= p => {}
            other => {
                return Err(input_err!(
                    "{name}: published {} is below the {p} this pipeline already published; \
                     restoring it would make energy go backwards",
                    other.map_or("None".to_string(), |s| s.to_string())
                ))
            }
        }
    }
    Ok(next)
}

fn restored_energy(
    name: &str,
    own: &Option<EnergyIntegrator>,
    saved: &Option<EnergyState>,
) -> Result<Option<EnergyIntegrator>> {
    match (own, saved) {
        (Some(integ), Some(s)) => {
            let mut next = *integ;
            next.restore(s).map_err(|e| input_err!("{name}: {e}"))?;
            Ok(Some(next))
        }
        (None, None) => Ok(None),
        (own, saved) => Err(input_err!(
            "the state {} integrated {name}, but this pipeline {} (a different profile?)",
            presence(saved.is_some()),
            if own.is_some() {
                "integrates it"
            } else {
                "reads it from meter counters"
            }
        )),
    }
}

impl MeterPipeline {
    /// Everything that must survive a restart.
    pub fn state(&self) -> PipelineState {
        let s = &self.streams;
        PipelineState {
            counters: s.counters.each_ref().map(|c| c.as_ref().map(|t| t.state())),
            energy: s.energy.as_ref().map(|e| e.state()),
            reactive_energy: s.reactive_energy.as_ref().map(|e| e.state()),
            counter_wraps: s.counter_wraps,
            counter_resets: s.counter_resets,
        }
    }

    /// Which counter slots (in `counter_channels()` order) hold meter counters.
    pub fn counter_slots(&self) -> [bool; 4] {
        self.streams.counters.each_ref().map(|c| c.is_some())
    }

    /// The span (2^bits · scale) of each counter slot's raw register, None where it does not wrap.
    pub fn counter_moduli(&self) -> [Option<f64>; 4] {
        COUNTER_SLOTS.map(|ch| self.profile.counter_modulus[ch])
    }

    /// Continue from a saved state. Everything is checked first; on error nothing changes.
    pub fn restore_state(&mut self, saved: &PipelineState) -> Result<()> {
        let names = counter_channels();
        let moduli = self.counter_moduli();
        let mut counters = self.streams.counters.clone();
        for (k, slot) in counters.iter_mut().enumerate() {
            *slot = match (slot.as_ref(), saved.counters[k].as_ref()) {
                (Some(own), Some(s)) => Some(restored_counter(names[k], own, s, moduli[k])?),
                (None, None) => None,
                (own, s) => {
                    return Err(input_err!(
                        "the state {} a meter counter for {}, but this pipeline {} \
                         (a different profile?)",
                        presence(s.is_some()),
                        names[k],
                        presence(own.is_some())
                    ))
                }
            };
        }
        let energy = restored_energy(
            "EnergyImport/EnergyExport",
            &self.streams.energy,
            &saved.energy,
        )?;
        let reactive = restored_energy(
            "ReactiveEnergyImport/ReactiveEnergyExport",
            &self.streams.reactive_energy,
            &saved.reactive_energy,
        )?;
        let s = &mut self.streams;
        s.counters = counters;
        s.energy = energy;
        s.reactive_energy = reactive;
        s.counter_wraps = saved.counter_wraps;
        s.counter_resets = saved.counter_resets;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{E_EXP, E_IMP, P};
    use crate::pipeline::PipelineConfig;
    use crate::profile::{CompiledProfile, FieldSpec};
    use crate::registers::{DType, WordOrder};

    const T0: f64 = 1.8e9;

    fn field(channel: usize, offset: usize, dtype: DType, scale: f64) -> FieldSpec {
        let any = f64::INFINITY;
        FieldSpec::new(
            channel,
            offset,
            dtype,
            WordOrder::Abcd,
            scale,
            None,
            vec![],
            false,
            false,
            -any,
            any,
            0,
        )
    }

    /// P (int16 W) and, with `counters`, uint32 import/export counters in Wh (scale 0.001 kWh).
    fn pipeline(counters: bool) -> MeterPipeline {
        let mut fields = vec![field(P, 0, DType::I16, 1.0)];
        if counters {
            fields.push(field(E_IMP, 1, DType::U32, 0.001));
            fields.push(field(E_EXP, 3, DType::U32, 0.001));
        }
        let fl = if counters { 5 } else { 1 };
        let p = CompiledProfile::new(fl, vec![(0, fl)], fields, None).unwrap();
        MeterPipeline::new(p, PipelineConfig::default()).unwrap()
    }

    fn frame(p_w: i16, imp_wh: u32, exp_wh: u32) -> Vec<u16> {
        vec![
            p_w as u16,
            (imp_wh >> 16) as u16,
            imp_wh as u16,
            (exp_wh >> 16) as u16,
            exp_wh as u16,
        ]
    }

    fn push(p: &mut MeterPipeline, t: f64, f: &[u16]) -> [f64; crate::channel::NCH] {
        let mut v = [f64::NAN; crate::channel::NCH];
        p.push(t, f, None, &mut v).unwrap();
        v
    }

    #[test]
    fn a_reset_counter_keeps_its_offset_across_a_restart() {
        let mut a = pipeline(true);
        push(&mut a, T0, &frame(0, 1_000_000, 0)); // 1000 kWh
        push(&mut a, T0 + 1.0, &frame(0, 1_500_000, 0)); // 1500 kWh
        push(&mut a, T0 + 2.0, &frame(0, 20_000, 0)); // reset: holds 1500
        let v = push(&mut a, T0 + 3.0, &frame(0, 25_000, 0)); // 1505
        assert_eq!(v[E_IMP], 1505.0);
        assert_eq!(a.counter_resets(), 1);
        let saved = a.state();
        let mut b = pipeline(true);
        b.restore_state(&saved).unwrap();
        assert_eq!(b.counter_resets(), 1);
        // the meter advanced by 1 kWh while the process was down
        let v = push(&mut b, T0 + 100.0, &frame(0, 26_000, 0));
        assert_eq!(v[E_IMP], 1506.0);
        // without the state, the same frame would publish 26 kWh
        let v = push(&mut pipeline(true), T0 + 100.0, &frame(0, 26_000, 0));
        assert_eq!(v[E_IMP], 26.0);
    }

    #[test]
    fn integrated_energy_continues_from_its_saved_totals() {
        let mut a = pipeline(false);
        push(&mut a, T0, &[3600]);
        let v = push(&mut a, T0 + 10.0, &[3600]); // 3.6 kW for 10 s = 0.01 kWh
        assert!((v[E_IMP] - 0.01).abs() < 1e-15);
        let mut b = pipeline(false);
        b.restore_state(&a.state()).unwrap();
        let first = push(&mut b, T0 + 50.0, &[3600]);
        assert_eq!(first[E_IMP].to_bits(), v[E_IMP].to_bits());
        let next = push(&mut b, T0 + 60.0, &[3600]);
        assert!((next[E_IMP] - 0.02).abs() < 1e-15);
    }

    #[test]
    fn a_state_that_does_not_fit_is_refused_and_changes_nothing() {
        let mut a = pipeline(true);
        push(&mut a, T0, &frame(0, 5_000, 7_000));
        let good = a.state();
        let mut b = pipeline(true);
        push(&mut b, T0, &frame(0, 2_000, 1_000));
        let before = b.state();
        let mut lower = good.clone();
        lower.counters[0] = Some(CounterState {
            published: Some(1.5),
            last_raw: Some(1.5),
            max_increment: None,
        });
        let mut beyond_span = good.clone();
        beyond_span.counters[1] = Some(CounterState {
            published: Some(1e9),
            last_raw: Some(4294967.296),
            max_increment: None,
        });
        let mut negative = good.clone();
        negative.counters[1] = Some(CounterState {
            published: Some(-3.0),
            last_raw: None,
            max_increment: None,
        });
        let mut nan = good.clone();
        nan.counters[0] = Some(CounterState {
            published: Some(f64::NAN),
            last_raw: None,
            max_increment: None,
        });
        let integrated = pipeline(false).state();
        for (bad, says) in [
            (&lower, "go backwards"),
            (&beyond_span, "beyond the counter's span"),
            (&negative, "expected a finite value >= 0"),
            (&nan, "expected a finite value >= 0"),
            (&integrated, "a different profile"),
        ] {
            let err = b.restore_state(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
            assert_eq!(b.state(), before);
        }
        // and a pipeline that integrates refuses a state with counters
        let err = pipeline(false)
            .restore_state(&good)
            .unwrap_err()
            .to_string();
        assert!(err.contains("meter counter for EnergyImport"), "{err}");
    }
}
