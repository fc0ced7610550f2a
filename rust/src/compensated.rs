//! Running sums that keep the low-order bits a float64 sum drops (Neumaier's variant of Kahan
//! summation), plain or in interleaved lanes.

/// Intervals are accumulated in this many interleaved running sums (interval k into lane k mod
/// LANES, counted from the first sample ever), so that LANES additions are independent of each
/// other and a chunk is integrated at the speed of memory instead of one dependent addition per
/// sample. The lane of an interval depends only on its position in the whole series, so any
/// chunking adds the same numbers into the same sums in the same order: bit-identical results.
pub(crate) const LANES: usize = 8;

/// LANES running sums; with `compensated`, each carries Neumaier's correction (Kahan summation's
/// variant for addends larger than the sum), so 30 days of 1 s increments lose nothing measurable.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct LaneSums {
    sum: [f64; LANES],
    carry: [f64; LANES],
}

/// Neumaier's step: the carry gathers the exact rounding error of each addition. The error is
/// computed by Knuth's TwoSum, which is exact whatever the magnitudes (the same number as
/// Neumaier's branch on |sum| ≥ |x| gives) and needs no compare and select.
#[inline(always)]
fn neumaier(sum: &mut f64, carry: &mut f64, x: f64) {
    let s = *sum + x;
    let x_part = s - *sum;
    let sum_part = s - x_part;
    *carry += (*sum - sum_part) + (x - x_part);
    *sum = s;
}

impl LaneSums {
    #[inline(always)]
    pub(crate) fn add<const COMPENSATED: bool>(&mut self, lane: usize, x: f64) {
        if COMPENSATED {
            neumaier(&mut self.sum[lane], &mut self.carry[lane], x);
        } else {
            self.sum[lane] += x;
        }
    }

    /// Add `xs` in groups of LANES, lane k getting `xs[k]`, `xs[k + LANES]`, ... (the sums are
    /// kept in locals meanwhile, so that they live in vector registers).
    #[inline(always)]
    pub(crate) fn add_groups<const COMPENSATED: bool>(&mut self, xs: &[f64]) {
        let (mut sum, mut carry) = (self.sum, self.carry);
        for group in xs.chunks_exact(LANES) {
            let group: &[f64; LANES] = group.try_into().expect("chunks of LANES");
            for k in 0..LANES {
                if COMPENSATED {
                    neumaier(&mut sum[k], &mut carry[k], group[k]);
                } else {
                    sum[k] += group[k];
                }
            }
        }
        (self.sum, self.carry) = (sum, carry);
    }

    /// Sums holding `total` (in the first lane), e.g. restored after a restart.
    pub(crate) fn from_total(total: f64) -> Self {
        let mut s = LaneSums::default();
        s.sum[0] = total;
        s
    }

    /// The total: the lanes' sums and then their carries, added in lane order with compensation.
    pub(crate) fn value(&self) -> f64 {
        let (mut sum, mut carry) = (0.0, 0.0);
        for &x in self.sum.iter().chain(&self.carry) {
            neumaier(&mut sum, &mut carry, x);
        }
        sum + carry
    }
}

/// A plain running sum, compensated on request (the gap total: gaps are rare).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Sum {
    sum: f64,
    carry: f64,
}

impl Sum {
    #[inline]
    pub(crate) fn add(&mut self, x: f64, compensated: bool) {
        if compensated {
            neumaier(&mut self.sum, &mut self.carry, x);
        } else {
            self.sum += x;
        }
    }

    pub(crate) fn value(&self) -> f64 {
        self.sum + self.carry
    }

    /// A sum holding `total`, e.g. restored after a restart.
    pub(crate) fn from_total(total: f64) -> Self {
        Sum {
            sum: total,
            carry: 0.0,
        }
    }
}
