//! Grid quantities from one frame's phasors, in the IEEE 1459 load convention (S = V·conj(I),
//! import and inductive Q positive): per phase |V|, |I|, P, Q, |V|·|I| and P/S; line-to-line
//! voltages |Va − Vb|; totals (sums over the phases, or 3·V1·conj(I1) for a PMU that sends
//! positive sequence only), their power factor and the phase imbalance. Which phasor is which is
//! fixed per stream (chosen in `gridtap.pmu_mapping`); `values` fills one frame's outputs in the
//! order of `names()`, NaN where a value is absent (a phasor the PMU marked absent, or an idle
//! power factor that is undefined).

use crate::c37118::Phasor;
use crate::{Error, Result};

const PHASES: [&str; 3] = ["L1", "L2", "L3"];
const LINES: [(&str, usize, usize); 3] = [("L12", 0, 1), ("L23", 1, 2), ("L31", 2, 0)];

#[derive(Clone, Debug)]
struct Phase {
    name: &'static str,
    voltage: Option<usize>,
    current: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct PhasorPower {
    phases: Vec<Phase>,
    lines: Vec<(&'static str, usize, usize)>,
    totals: bool,
    imbalance: bool,
    positive: Option<(usize, usize)>,
    sign: f64,
    needed: usize,
    names: Vec<String>,
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        f64::NAN
    }
}

fn magnitude(p: Phasor) -> f64 {
    finite(p.re.hypot(p.im))
}

/// P/S signed by P, as the meters' pipeline computes it (`fallback::power_factor`); an idle
/// connection (no current) has nothing to correct: 1. P and S are finite here, S ≥ 0.
fn power_factor(p: f64, s: f64) -> f64 {
    crate::fallback::power_factor(p, s, f64::NAN).0
}

/// V·conj(I).
fn product(v: Phasor, i: Phasor) -> (f64, f64) {
    (v.re * i.re + v.im * i.im, v.im * i.re - v.re * i.im)
}

impl PhasorPower {
    /// `voltages` / `currents`: the phasor index of each phase (None: not sent); `positive`: the
    /// indices of V1 and I1 when the totals come from positive sequence; `totals`: whether the
    /// mapping gives total power at all; `invert` flips P and Q (a reversed CT).
    pub fn new(
        voltages: [Option<usize>; 3],
        currents: [Option<usize>; 3],
        positive: Option<(usize, usize)>,
        totals: bool,
        invert: bool,
    ) -> Result<PhasorPower> {
        let phases: Vec<Phase> = (0..3)
            .filter(|&k| voltages[k].is_some() || currents[k].is_some())
            .map(|k| Phase {
                name: PHASES[k],
                voltage: voltages[k],
                current: currents[k],
            })
            .collect();
        let lines: Vec<_> = LINES
            .iter()
            .filter_map(|&(name, a, b)| Some((name, voltages[a]?, voltages[b]?)))
            .collect();
        let mut names = vec!["Frequency".to_string(), "Frequency_RoCoF".to_string()];
        let mut both = 0;
        for ph in &phases {
            if ph.voltage.is_some() {
                names.push(format!("Voltage_{}", ph.name));
            }
            if ph.current.is_some() {
                names.push(format!("Current_{}", ph.name));
            }
            if ph.voltage.is_some() && ph.current.is_some() {
                both += 1;
                for q in [
                    "ActivePower",
                    "ReactivePower",
                    "ApparentPower",
                    "PowerFactor",
                ] {
                    names.push(format!("{q}_{}", ph.name));
                }
            }
        }
        names.extend(lines.iter().map(|(name, _, _)| format!("Voltage_{name}")));
        if totals {
            for q in [
                "ActivePower",
                "ReactivePower",
                "ApparentPower",
                "PowerFactor",
            ] {
                names.push(q.to_string());
            }
            if both == 3 {
                names.push("PhaseImbalance".to_string());
            }
            if positive.is_none() && both == 0 {
                return Err(Error::Input(
                    "total power needs per-phase voltage and current phasors or positive sequence"
                        .into(),
                ));
            }
        }
        let needed = voltages
            .iter()
            .chain(&currents)
            .flatten()
            .copied()
            .chain(positive.iter().flat_map(|&(v, i)| [v, i]))
            .max()
            .map_or(0, |m| m + 1);
        Ok(PhasorPower {
            phases,
            lines,
            totals,
            imbalance: totals && both == 3,
            positive,
            sign: if invert { -1.0 } else { 1.0 },
            needed,
            names,
        })
    }

    /// The channels `values` fills, in its order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// One frame: `out` gets one value per name (NaN: absent).
    pub fn values(
        &self,
        phasors: &[Phasor],
        freq: f64,
        rocof: f64,
        out: &mut Vec<f64>,
    ) -> Result<()> {
        if phasors.len() < self.needed {
            return Err(Error::Input(format!(
                "{} phasors given, the mapping uses phasor {}",
                phasors.len(),
                self.needed - 1
            )));
        }
        out.clear();
        out.push(finite(freq));
        out.push(finite(rocof));
        let sign = self.sign;
        let (mut p_sum, mut q_sum, mut s_sum) = (0.0, 0.0, 0.0);
        let (mut valid, mut spread, mut lowest, mut highest) = (true, 0, f64::MAX, f64::MIN);
        for ph in &self.phases {
            // NaN: the PMU marked the phasor absent
            let vm = ph.voltage.map(|i| magnitude(phasors[i]));
            let am = ph.current.map(|i| magnitude(phasors[i]));
            if let Some(vm) = vm {
                out.push(vm);
            }
            if let Some(am) = am {
                out.push(am);
            }
            let (Some(vi), Some(ai), Some(vm), Some(am)) = (ph.voltage, ph.current, vm, am) else {
                continue;
            };
            let (re, im) = product(phasors[vi], phasors[ai]);
            let (p, q, s) = (sign * re, sign * im, vm * am);
            if !(p.is_finite() && q.is_finite() && s.is_finite()) {
                out.extend([f64::NAN; 4]);
                valid = false;
                continue;
            }
            out.extend([p, q, s, power_factor(p, s)]);
            p_sum += p;
            q_sum += q;
            s_sum += s;
            spread += 1;
            lowest = lowest.min(p);
            highest = highest.max(p);
        }
        for &(_, a, b) in &self.lines {
            let (va, vb) = (phasors[a], phasors[b]);
            out.push(magnitude(Phasor::new(va.re - vb.re, va.im - vb.im)));
        }
        if !self.totals {
            return Ok(());
        }
        if let Some((vi, ai)) = self.positive {
            let (v, i) = (phasors[vi], phasors[ai]);
            let (re, im) = product(v, i);
            (p_sum, q_sum) = (3.0 * sign * re, 3.0 * sign * im);
            s_sum = 3.0 * magnitude(v) * magnitude(i);
            valid = p_sum.is_finite() && q_sum.is_finite() && s_sum.is_finite();
        }
        if valid {
            out.extend([p_sum, q_sum, s_sum, power_factor(p_sum, s_sum)]);
            if self.imbalance {
                out.push(if spread == 3 {
                    highest - lowest
                } else {
                    f64::NAN
                });
            }
        } else {
            out.extend([f64::NAN; 4]);
            if self.imbalance {
                out.push(f64::NAN);
            }
        }
        debug_assert_eq!(out.len(), self.names.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polar(m: f64, a: f64) -> Phasor {
        Phasor::new(m * a.cos(), m * a.sin())
    }

    #[test]
    fn an_inductive_load_on_one_phase() {
        // 230 V at 0, 10 A lagging by 0.3 rad: P = 2300 cos 0.3, Q = 2300 sin 0.3 (both > 0)
        let m = PhasorPower::new(
            [Some(0), None, None],
            [Some(1), None, None],
            None,
            true,
            false,
        )
        .unwrap();
        let mut out = Vec::new();
        m.values(&[polar(230.0, 0.0), polar(10.0, -0.3)], 50.0, 0.1, &mut out)
            .unwrap();
        assert_eq!(
            m.names(),
            [
                "Frequency",
                "Frequency_RoCoF",
                "Voltage_L1",
                "Current_L1",
                "ActivePower_L1",
                "ReactivePower_L1",
                "ApparentPower_L1",
                "PowerFactor_L1",
                "ActivePower",
                "ReactivePower",
                "ApparentPower",
                "PowerFactor"
            ]
        );
        let p = 2300.0 * 0.3f64.cos();
        let q = 2300.0 * 0.3f64.sin();
        assert!((out[4] - p).abs() < 1e-9 && (out[5] - q).abs() < 1e-9);
        assert!((out[7] - 0.3f64.cos()).abs() < 1e-12 && out[8] == out[4]);
    }

    #[test]
    fn an_absent_current_makes_its_powers_and_the_totals_absent() {
        let v = [Some(0), Some(1), Some(2)];
        let i = [Some(3), Some(4), Some(5)];
        let m = PhasorPower::new(v, i, None, true, false).unwrap();
        let mut ph = vec![polar(230.0, 0.0); 6];
        ph[4] = Phasor::new(f64::NAN, f64::NAN);
        let mut out = Vec::new();
        m.values(&ph, 50.0, 0.0, &mut out).unwrap();
        let at = |n: &str| out[m.names().iter().position(|x| x == n).unwrap()];
        assert!(at("Current_L2").is_nan() && at("ActivePower_L2").is_nan());
        assert!(at("ActivePower").is_nan() && at("PhaseImbalance").is_nan());
        assert_eq!(at("ActivePower_L1"), 230.0 * 230.0);
        assert!(m.values(&ph[..5], 50.0, 0.0, &mut out).is_err());
    }
}
