//! The stateless aggregates of a tile, column by column: invert, totals from phases, S, PF,
//! imbalance, EnergyNet.
//!
//! Each derived column is one loop over the tile's N frames (all of them, also past the `k` in
//! use: a fixed trip count, and the values past `k` are never read) whose body computes every
//! candidate and then selects, without calls or early returns, so that the compiler vectorises
//! it. The operations and their order are those of `fallback::from`, `first` and `power_factor`
//! (a total is `((0 + a) + b) + c`, PF is `(p / s).clamp(-1, 1)`), so every copy of a loop, scalar
//! or vector, gives the same bits. √(P² + Q²) stays with libm's `hypot`, a frame at a time.

use super::Tile;
use crate::channel::{
    E_EXP, E_IMP, E_NET, IMBALANCE, P, PF, PF_L, P_L, Q, Q_L, RE_EXP, RE_IMP, S, S_L,
};
use crate::fallback::{self, Source};
use crate::profile::{ApparentMode, CompiledProfile};

/// NaN as `f64::NAN` (what `fallback::from` gives), any other value as it is.
#[inline(always)]
fn canon(v: f64) -> f64 {
    if v.is_nan() {
        f64::NAN
    } else {
        v
    }
}

/// `source`, or None where `v` has no value.
#[inline(always)]
fn source_of(v: f64, source: Source) -> Source {
    if v.is_nan() {
        Source::None
    } else {
        source
    }
}

/// Σ of `cols[c]` over `chans`, frame by frame, from 0 in the order given. A sum over no channels
/// is no value (NaN), never 0: a meter that reads no phases has nothing to fall back to.
#[inline(always)]
fn column_sum<const N: usize>(cols: &[[f64; N]], chans: impl Iterator<Item = usize>) -> [f64; N] {
    let mut sum = [0.0; N];
    let mut any = false;
    for c in chans {
        any = true;
        for (s, x) in sum.iter_mut().zip(&cols[c]) {
            *s += x;
        }
    }
    if any {
        sum
    } else {
        [f64::NAN; N]
    }
}

impl<const N: usize> Tile<N> {
    /// Bring the tile's frames to the standard convention and add the stateless aggregates.
    #[inline(always)]
    pub(super) fn aggregate(&mut self, p: &CompiledProfile, invert: bool) {
        let Tile { cols, src, .. } = self;
        let m = &p.from_meter;
        // the phases the meter reads (no allocation: push runs this for every frame)
        let (mut phase_buf, mut np) = ([0usize; 3], 0);
        for i in (0..3).filter(|&i| m[P_L[i]]) {
            phase_buf[np] = i;
            np += 1;
        }
        let phases = &phase_buf[..np];
        if invert {
            // a reversed CT: active and reactive power flip, import and export counters swap
            for ch in [
                P, P_L[0], P_L[1], P_L[2], Q, Q_L[0], Q_L[1], Q_L[2], PF, PF_L[0], PF_L[1], PF_L[2],
            ] {
                cols[ch].iter_mut().for_each(|x| *x = -*x);
            }
            cols.swap(E_IMP, E_EXP);
            cols.swap(RE_IMP, RE_EXP);
        }
        // Each aggregated channel takes, frame by frame, the first source that has a value.
        for (si, (tot, ph)) in [(fallback::SRC_P, (P, P_L)), (fallback::SRC_Q, (Q, Q_L))] {
            if !p.available[tot] {
                continue;
            }
            let sum = column_sum(cols, (0..3).filter(|&i| m[ph[i]]).map(|i| ph[i]));
            let has_total = m[tot];
            for ((t, s), o) in cols[tot].iter_mut().zip(&sum).zip(src[si].iter_mut()) {
                let metered = has_total && !t.is_nan();
                *o = if metered {
                    Source::Meter
                } else {
                    source_of(*s, Source::Phases)
                };
                *t = if metered { *t } else { canon(*s) };
            }
        }
        for i in 0..3 {
            let (sl, out) = (S_L[i], &mut src[fallback::SRC_S_L[i]]);
            if !p.available[sl] {
                continue;
            }
            if m[sl] {
                for (x, o) in cols[sl].iter_mut().zip(out.iter_mut()) {
                    *o = source_of(*x, Source::Meter);
                    *x = canon(*x);
                }
            } else {
                for j in 0..N {
                    let v = cols[P_L[i]][j].hypot(cols[Q_L[i]][j]);
                    out[j] = source_of(v, Source::Vector);
                    cols[sl][j] = canon(v);
                }
            }
        }
        if p.available[S] {
            let has_total = m[S];
            let phases_s = !phases.is_empty() && phases.iter().all(|&i| p.available[S_L[i]]);
            let out = &mut src[fallback::SRC_S];
            match p.apparent {
                ApparentMode::Arithmetic | ApparentMode::Meter => {
                    let meter_first = p.apparent == ApparentMode::Meter;
                    let sum = column_sum(cols, phases.iter().map(|&i| S_L[i]));
                    for ((t, s), o) in cols[S].iter_mut().zip(&sum).zip(out.iter_mut()) {
                        let total = has_total && !t.is_nan();
                        let phased = !s.is_nan() && (phases_s || !meter_first);
                        let use_total = total && (meter_first || !phased);
                        *o = if use_total {
                            Source::Meter
                        } else if phased {
                            Source::Phases
                        } else {
                            Source::None
                        };
                        *t = if use_total {
                            *t
                        } else if phased {
                            *s
                        } else {
                            f64::NAN
                        };
                    }
                }
                ApparentMode::Vector => {
                    for j in 0..N {
                        let v = cols[P][j].hypot(cols[Q][j]);
                        let t = cols[S][j];
                        let total = has_total && !t.is_nan();
                        (cols[S][j], out[j]) = if !v.is_nan() {
                            (v, Source::Vector)
                        } else if total {
                            (t, Source::Meter)
                        } else {
                            (f64::NAN, Source::None)
                        };
                    }
                }
            }
        }
        for (si, (pf, pc, sc)) in [
            (fallback::SRC_PF_L[0], (PF_L[0], P_L[0], S_L[0])),
            (fallback::SRC_PF_L[1], (PF_L[1], P_L[1], S_L[1])),
            (fallback::SRC_PF_L[2], (PF_L[2], P_L[2], S_L[2])),
            (fallback::SRC_PF, (PF, P, S)),
        ] {
            if !p.available[pf] {
                continue;
            }
            let has_s = p.available[sc];
            let (pcol, scol) = (cols[pc], cols[sc]);
            let out = &mut src[si];
            for (j, r) in cols[pf].iter_mut().enumerate() {
                // cols[pf] holds the meter's PF register, NaN where the meter has none
                (*r, out[j]) = power_factor(pcol[j], if has_s { scol[j] } else { f64::NAN }, *r);
            }
        }
        if p.available[IMBALANCE] {
            let (mut lo, mut hi, mut nan) =
                ([f64::INFINITY; N], [f64::NEG_INFINITY; N], [false; N]);
            for &i in phases {
                for (j, &x) in cols[P_L[i]].iter().enumerate() {
                    lo[j] = lo[j].min(x);
                    hi[j] = hi[j].max(x);
                    nan[j] |= x.is_nan();
                }
            }
            for (j, x) in cols[IMBALANCE].iter_mut().enumerate() {
                *x = if nan[j] { f64::NAN } else { hi[j] - lo[j] };
            }
        }
        if p.meter_energy {
            let (imp, exp) = (cols[E_IMP], cols[E_EXP]);
            for (j, x) in cols[E_NET].iter_mut().enumerate() {
                *x = imp[j] - exp[j];
            }
        }
    }
}

/// `fallback::power_factor` with every candidate computed and then selected (the same values).
#[inline(always)]
fn power_factor(p: f64, s: f64, meter_pf: f64) -> (f64, Source) {
    let idle = s == 0.0 && p == 0.0;
    let ratio = if s > 0.0 {
        (p / s).clamp(-1.0, 1.0)
    } else if idle {
        1.0
    } else {
        f64::NAN
    };
    let m = meter_pf.abs();
    let register = if p < 0.0 { -m } else { m };
    if p.is_nan() {
        (f64::NAN, Source::None)
    } else if !s.is_nan() {
        let ok = s > 0.0 || idle;
        (ratio, if ok { Source::Ratio } else { Source::None })
    } else if m <= 1.0 {
        (register, Source::Meter)
    } else {
        (f64::NAN, Source::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_frames, decode_tiles, decoded_channels, Tile, TILE};
    use super::*;
    use crate::channel::{index, NCH};
    use crate::fallback::{first, from, NSRC};
    use crate::profile::FieldSpec;
    use crate::registers::{DType, WordOrder};

    /// Σ from 0 in order; no phases, no value.
    fn phase_sum(xs: impl Iterator<Item = f64>) -> f64 {
        xs.fold(None, |a: Option<f64>, x| Some(a.unwrap_or(0.0) + x))
            .unwrap_or(f64::NAN)
    }

    /// One frame's aggregates as `fallback` defines them, value by value with its functions.
    fn reference(p: &CompiledProfile, invert: bool, c: &mut [f64; NCH]) -> [Source; NSRC] {
        let m = &p.from_meter;
        let mut src = [Source::None; NSRC];
        let phases: Vec<usize> = (0..3).filter(|&i| m[P_L[i]]).collect();
        if invert {
            for ch in [P, Q, PF].into_iter().chain(P_L).chain(Q_L).chain(PF_L) {
                c[ch] = -c[ch];
            }
            c.swap(E_IMP, E_EXP);
            c.swap(RE_IMP, RE_EXP);
        }
        for (si, tot, ph) in [(fallback::SRC_P, P, P_L), (fallback::SRC_Q, Q, Q_L)] {
            if p.available[tot] {
                let s = phase_sum((0..3).filter(|&i| m[ph[i]]).map(|i| c[ph[i]]));
                let sum = from(s, Source::Phases);
                let r = if m[tot] {
                    first(from(c[tot], Source::Meter), || sum)
                } else {
                    sum
                };
                (c[tot], src[si]) = r;
            }
        }
        for i in 0..3 {
            if p.available[S_L[i]] {
                (c[S_L[i]], src[fallback::SRC_S_L[i]]) = if m[S_L[i]] {
                    from(c[S_L[i]], Source::Meter)
                } else {
                    from(c[P_L[i]].hypot(c[Q_L[i]]), Source::Vector)
                };
            }
        }
        if p.available[S] {
            let sum = from(phase_sum(phases.iter().map(|&i| c[S_L[i]])), Source::Phases);
            let total = if m[S] {
                from(c[S], Source::Meter)
            } else {
                (f64::NAN, Source::None)
            };
            let phases_s = !phases.is_empty() && phases.iter().all(|&i| p.available[S_L[i]]);
            (c[S], src[fallback::SRC_S]) = match p.apparent {
                ApparentMode::Arithmetic => first(sum, || total),
                ApparentMode::Meter => first(total, || {
                    if phases_s {
                        sum
                    } else {
                        (f64::NAN, Source::None)
                    }
                }),
                ApparentMode::Vector => first(from(c[P].hypot(c[Q]), Source::Vector), || total),
            };
        }
        for (si, pf, pc, sc) in [
            (fallback::SRC_PF_L[0], PF_L[0], P_L[0], S_L[0]),
            (fallback::SRC_PF_L[1], PF_L[1], P_L[1], S_L[1]),
            (fallback::SRC_PF_L[2], PF_L[2], P_L[2], S_L[2]),
            (fallback::SRC_PF, PF, P, S),
        ] {
            if p.available[pf] {
                let s = if p.available[sc] { c[sc] } else { f64::NAN };
                (c[pf], src[si]) = fallback::power_factor(c[pc], s, c[pf]);
            }
        }
        if p.available[IMBALANCE] {
            let x: Vec<f64> = phases.iter().map(|&i| c[P_L[i]]).collect();
            c[IMBALANCE] = if x.iter().any(|v| v.is_nan()) {
                f64::NAN
            } else {
                x.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v))
                    - x.iter().fold(f64::INFINITY, |a, &v| a.min(v))
            };
        }
        if p.meter_energy {
            c[E_NET] = c[E_IMP] - c[E_EXP];
        }
        src
    }

    /// Float32 ABCD fields for `names`, one after the other, and the profile they make.
    fn profile(names: &[&str], apparent: Option<ApparentMode>) -> CompiledProfile {
        let fields = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let ch = index(name).unwrap();
                FieldSpec::new(
                    ch,
                    2 * i,
                    DType::F32,
                    WordOrder::Abcd,
                    1.0,
                    None,
                    vec![],
                    false,
                    false,
                    f64::NEG_INFINITY,
                    f64::INFINITY,
                    0,
                )
            })
            .collect();
        let fl = 2 * names.len();
        CompiledProfile::new(fl, vec![(0, fl)], fields, apparent).unwrap()
    }

    /// `n` frames of `p` whose values come from a small set with every edge the aggregates
    /// distinguish: zero of both signs (an idle meter), PF registers above 1, NaN, infinity.
    fn frames(p: &CompiledProfile, n: usize) -> Vec<u16> {
        let set = [
            0.0f32,
            -0.0,
            0.5,
            -0.75,
            1.5,
            -3.0,
            230.0,
            -4000.0,
            5000.0,
            1e-3,
            f32::NAN,
            f32::INFINITY,
        ];
        let mut bits = crate::test_rng::bits(0x2545_F491_4F6C_DD1D);
        let mut out = Vec::with_capacity(n * p.frame_length);
        for _ in 0..n * p.frame_length / 2 {
            let x = bits();
            // zeros twice as often as the rest: idle frames with P = S = 0 happen
            let v = if x.is_multiple_of(3) {
                0.0
            } else {
                set[(x >> 8) as usize % set.len()]
            };
            let bits = v.to_bits();
            out.extend([(bits >> 16) as u16, bits as u16]);
        }
        out
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits()
    }

    fn cases() -> Vec<(CompiledProfile, bool)> {
        let all = [
            "ActivePower_L1",
            "ActivePower_L2",
            "ActivePower_L3",
            "ReactivePower_L1",
            "ReactivePower_L2",
            "ReactivePower_L3",
            "ApparentPower_L1",
            "ApparentPower_L2",
            "ApparentPower_L3",
            "PowerFactor_L1",
            "PowerFactor_L2",
            "PowerFactor_L3",
            "ActivePower",
            "ReactivePower",
            "ApparentPower",
            "PowerFactor",
            "EnergyImport",
            "EnergyExport",
        ];
        // phases without S: S_L and S by √(P² + Q²)
        let vector = [
            "ActivePower_L1",
            "ActivePower_L2",
            "ReactivePower_L1",
            "ReactivePower_L2",
            "PowerFactor_L1",
        ];
        // totals only, but one phase: the meter's S first, PF from its register without S
        let meter = [
            "ActivePower",
            "ApparentPower",
            "PowerFactor",
            "ActivePower_L2",
            "ApparentPower_L2",
            "ReactivePower_L3",
        ];
        vec![
            (profile(&all, None), false),
            (profile(&all, None), true),
            (profile(&all, Some(ApparentMode::Meter)), false),
            (profile(&all, Some(ApparentMode::Vector)), true),
            (profile(&vector, None), false),
            (profile(&vector, None), true),
            (profile(&meter, Some(ApparentMode::Meter)), false),
            (profile(&meter, None), true),
        ]
    }

    #[test]
    fn tiles_equal_the_fallback_rules_frame_by_frame() {
        let k = TILE - 3; // a ragged tile: the columns past k are computed and never used
        let mut checked = [0usize; 3]; // values, NaNs among them, sources other than None
        for (p, invert) in cases() {
            let fr = frames(&p, k);
            let mut tile = Tile::<TILE>::default();
            tile.read_fields(&p, &fr, k, None, None);
            tile.aggregate(&p, invert);
            for (j, frame) in fr.chunks_exact(p.frame_length).enumerate() {
                let mut c = [f64::NAN; NCH];
                for f in &p.fields {
                    c[f.channel] = f.read(frame);
                }
                let want = reference(&p, invert, &mut c);
                for ch in (0..NCH).filter(|&ch| p.available[ch]) {
                    // the streaming stages' slots are not the aggregate's
                    if matches!(ch, crate::channel::ROCOF | E_IMP | E_EXP | RE_IMP | RE_EXP)
                        || (ch == E_NET && !p.meter_energy)
                    {
                        continue;
                    }
                    let got = tile.cols[ch][j];
                    assert!(
                        same(got, c[ch]),
                        "{:?} invert {invert} frame {j} {}: {got} vs {}",
                        p.apparent,
                        crate::channel::NAMES[ch],
                        c[ch]
                    );
                    checked[0] += 1;
                    checked[1] += got.is_nan() as usize;
                }
                for (si, &s) in want.iter().enumerate() {
                    if p.available[fallback::SOURCED[si]] {
                        assert_eq!(tile.src[si][j], s, "frame {j} source {si}");
                        checked[2] += (s != Source::None) as usize;
                    }
                }
            }
        }
        // enough of each kind that a wrong select would show
        assert!(
            checked[0] > 3000 && checked[1] > 500 && checked[2] > 1000,
            "{checked:?}"
        );
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        // the portable copy against the one `decode_frames` runs on this CPU (AVX-512 where it
        // has it): same columns, bit for bit, NaN included
        for (p, invert) in cases() {
            let n = 3 * TILE + 5;
            let fr = frames(&p, n);
            let chans = decoded_channels(&p);
            let run = |portable: bool| {
                let mut cols = vec![vec![0.0; n]; chans.len()];
                let mut outs: Vec<&mut [f64]> = cols.iter_mut().map(|c| c.as_mut_slice()).collect();
                if portable {
                    decode_tiles(&p, &fr, invert, &chans, &mut outs, false);
                } else {
                    decode_frames(&p, &fr, invert, &mut outs).unwrap();
                }
                cols
            };
            let (a, b) = (run(true), run(false));
            for (c, (x, y)) in a.iter().zip(&b).enumerate() {
                for j in 0..n {
                    assert!(
                        same(x[j], y[j]),
                        "channel {} frame {j}: {} vs {}",
                        chans[c],
                        x[j],
                        y[j]
                    );
                }
            }
        }
    }
}
