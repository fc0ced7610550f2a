//! Per-frame sources of the aggregated channels. A meter's own register is preferred; when it holds
//! no valid value in a frame (NaN, a sentinel, out of range) the pipeline falls back, frame by
//! frame, to what the other registers give: a total to the sum of its phases, ApparentPower (Σ of
//! the phases) to the meter's total register, PowerFactor (P/S) to the meter's PF register.
//! Each value carries the `Source` it came from so a caller can tell which one was used.

use crate::channel::{P, PF, PF_L, Q, S, S_L};

/// Where one aggregated value of one frame came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Source {
    /// no valid value in this frame
    #[default]
    None = 0,
    /// the meter's own register for this channel
    Meter = 1,
    /// the sum of the phases' values
    Phases = 2,
    /// √(P² + Q²)
    Vector = 3,
    /// P / S
    Ratio = 4,
}

pub const NSOURCE: usize = 5;

impl Source {
    pub const ALL: [Source; NSOURCE] = [
        Source::None,
        Source::Meter,
        Source::Phases,
        Source::Vector,
        Source::Ratio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::None => "none",
            Source::Meter => "meter",
            Source::Phases => "phases",
            Source::Vector => "vector",
            Source::Ratio => "ratio",
        }
    }
}

/// The channels whose source can change from frame to frame (index = position in `Sources`).
pub const SOURCED: [usize; 10] = [
    P, Q, S, S_L[0], S_L[1], S_L[2], PF, PF_L[0], PF_L[1], PF_L[2],
];
pub const NSRC: usize = SOURCED.len();
pub const SRC_P: usize = 0;
pub const SRC_Q: usize = 1;
pub const SRC_S: usize = 2;
pub const SRC_S_L: [usize; 3] = [3, 4, 5];
pub const SRC_PF: usize = 6;
pub const SRC_PF_L: [usize; 3] = [7, 8, 9];

/// `v` from `source`, or no value.
#[inline]
pub fn from(v: f64, source: Source) -> (f64, Source) {
    if v.is_nan() {
        (f64::NAN, Source::None)
    } else {
        (v, source)
    }
}

/// The first of two candidates that has a value.
#[inline]
pub fn first(a: (f64, Source), b: impl FnOnce() -> (f64, Source)) -> (f64, Source) {
    if a.1 == Source::None {
        b()
    } else {
        a
    }
}

/// PF = P/S, signed by P (IEC), magnitude |P|/S. Without a valid S in this frame, the meter's PF
/// register gives the magnitude only: its sign conventions differ between vendors and even
/// document revisions, so the sign always comes from P.
#[inline]
pub fn power_factor(p: f64, s: f64, meter_pf: f64) -> (f64, Source) {
    if p.is_nan() {
        return (f64::NAN, Source::None);
    }
    if !s.is_nan() {
        return if s > 0.0 {
            ((p / s).clamp(-1.0, 1.0), Source::Ratio)
        } else if s == 0.0 && p == 0.0 {
            // an idle meter: no current, nothing to correct
            (1.0, Source::Ratio)
        } else {
            (f64::NAN, Source::None)
        };
    }
    let m = meter_pf.abs();
    if m.is_nan() || m > 1.0 {
        (f64::NAN, Source::None)
    } else if p < 0.0 {
        (-m, Source::Meter)
    } else {
        (m, Source::Meter)
    }
}

/// Which source each aggregated channel used: in the latest frame, and how often since the start.
#[derive(Clone, Debug, Default)]
pub struct SourceStats {
    pub last: [Source; NSRC],
    pub counts: [[u64; NSOURCE]; NSRC],
}

impl SourceStats {
    /// Count frame `j` of a tile's source columns (only the channels in `tracked`).
    #[inline]
    pub fn record<const N: usize>(
        &mut self,
        src: &[[Source; N]],
        tracked: &[bool; NSRC],
        j: usize,
    ) {
        for (i, col) in src.iter().enumerate().take(NSRC) {
            if tracked[i] {
                let s = col[j];
                self.last[i] = s;
                self.counts[i][s as usize] += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_factor_prefers_p_over_s_and_falls_back_to_the_meter_magnitude() {
        assert_eq!(power_factor(-3000.0, 5000.0, 0.9), (-0.6, Source::Ratio));
        assert_eq!(power_factor(0.0, 0.0, f64::NAN), (1.0, Source::Ratio));
        // S missing in this frame: the register's magnitude, signed by P
        assert_eq!(
            power_factor(-3000.0, f64::NAN, 0.87),
            (-0.87, Source::Meter)
        );
        assert_eq!(power_factor(3000.0, f64::NAN, -0.87), (0.87, Source::Meter));
        // nothing valid
        assert_eq!(power_factor(3000.0, f64::NAN, f64::NAN).1, Source::None);
        assert_eq!(power_factor(3000.0, f64::NAN, 1.7).1, Source::None);
        assert_eq!(power_factor(f64::NAN, 5000.0, 0.9).1, Source::None);
        // S = 0 while P flows is inconsistent: no value rather than a guess
        assert_eq!(power_factor(10.0, 0.0, 0.9).1, Source::None);
    }

    #[test]
    fn first_takes_the_fallback_only_without_a_value() {
        assert_eq!(
            first(from(5.0, Source::Meter), || (6.0, Source::Phases)),
            (5.0, Source::Meter)
        );
        assert_eq!(
            first(from(f64::NAN, Source::Meter), || (6.0, Source::Phases)),
            (6.0, Source::Phases)
        );
    }

    #[test]
    fn sourced_slots_match_their_indices() {
        assert_eq!(SOURCED[SRC_P], P);
        assert_eq!(SOURCED[SRC_S], S);
        assert_eq!(SOURCED[SRC_S_L[2]], S_L[2]);
        assert_eq!(SOURCED[SRC_PF], PF);
        assert_eq!(SOURCED[SRC_PF_L[1]], PF_L[1]);
        assert_eq!(SOURCED[SRC_Q], Q);
    }
}
