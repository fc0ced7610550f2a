//! The estimator's steady state in AVX-512 registers: whole groups of samples whose windows hold
//! a nearly constant number of samples, as a sampled frequency series gives them (uniform or
//! jittered timestamps at a fixed rate).
//!
//! Lane k of the group starting at sample gs is sample j = gs + k. Its window starts at `b` or
//! `b + 1`, with b = j − d + 1 for a distance `d` that stays fixed from group to group: three
//! comparisons per lane, the test of the estimator's lane loop (t_j − t_m > window + slack_j), on
//! the samples b − 1 (must be evicted), b (evicted or not: the start) and b + 1 (must be kept),
//! settle it. The loads sit at a fixed distance from the group, so nothing waits for the start
//! found in the group before. Why the test is exact: t increases, so the evicted samples of one
//! lane are a prefix of the history, and the first sample a lane keeps never lies before the
//! first kept by the lane before it (the slack grows by a quarter of the interval's growth, the
//! distance to a sample by all of it), so the lane loop's "never move back" changes nothing; the
//! lane loop's "at least two samples stay" does not bind while d ≥ 3.
//!
//! When a lane's start lies outside {b, b + 1} (the count of samples grew or shrank: a change of
//! rate), `d` moves by one and the group is tested again; when it cannot be settled so, the caller's
//! lane loop takes the group.
//!
//! A window's count is then d − [b evicted], its start sums E_(start−1) one load of the prefix
//! sums at the slots of b and a masked load one slot on. Short windows (d ≤ 16) read them from the
//! sums of the last two groups, kept in registers: a load of what the group before has just
//! stored would wait for the store to reach the cache.

use super::avx512::scan;
use super::{History, GROUP};
use std::arch::x86_64::*;

#[cfg(test)]
thread_local! {
    /// Groups computed here on this thread: tests check that the steady path carried a series.
    pub(crate) static GROUPS_DONE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Whether no group of the eight from `gs` finds the reference far behind (`History::far_behind`),
/// with `d` at `gs` and `t_newest` the sample before it. Within them, d falls by at most one a
/// group and a window starts at most one sample past b, so the window before group gs + 8i starts
/// at or before sample gs + 8i + 1 − (d − i) ≤ gs + 64 − d; the test at that sample and at the
/// newest sample before `gs` bounds theirs. For windows of 72 samples or more (the bound sample is
/// then one the history holds), else false.
#[inline(always)]
fn far_clear(h: &History, gs: u64, d: u64, t_newest: f64) -> bool {
    d >= 72 && !h.far_behind(h.t[h.slot(gs + 64 - d)], t_newest)
}

/// Where the window-start sums of a group are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Starts {
    /// d ≤ 8: from the group before and this one (registers)
    Near,
    /// 9 ≤ d ≤ 16: from the two groups before (registers)
    Behind,
    /// from the stored prefix sums
    Stored,
}

/// Whole groups from `gs` on while they are in steady state; their slopes go into `out`. Stops
/// before the first group that is not whole (`n` samples stored) or whose starts cannot be
/// settled as above. Returns the groups done and the window's start after them.
///
/// # Safety
/// AVX-512F/DQ/BW; 0 < lo, lo + 3 <= gs; the history ready (every lane's output is a slope).
#[inline]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn whole_groups<const CHECKED: bool>(
    h: &mut History,
    mut gs: u64,
    n: u64,
    mut lo: u64,
    window: f64,
    out: &mut [f64],
    ok: &mut bool,
    ahead: (*const f64, *const f64),
) -> (usize, u64) {
    let w = _mm512_set1_pd(window);
    let one = _mm512_set1_pd(1.0);
    let one_i = _mm512_set1_epi64(1);
    let lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    let last = _mm512_set1_epi64(GROUP as i64 - 1);
    let share = _mm512_set1_pd(crate::rocof::JITTER_SHARE);
    let res_scale = _mm512_set1_pd(4.0 * f64::EPSILON);
    let inf = _mm512_set1_pd(f64::INFINITY);
    // the window of sample gs − 1 holds gs − lo samples
    let mut d = gs - lo;
    let mut done = 0;
    // with CHECKED, the lanes whose samples passed `series::check_series`'s test so far
    let mut good: __mmask8 = 0xFF;
    // the sums of the last two groups, and how many of them were computed here since the last
    // rebase (only those are in registers)
    let (mut prev, mut prev2) = ([_mm512_setzero_pd(); 4], [_mm512_setzero_pd(); 4]);
    let mut held = 0u32;
    // groups from here on test the reference's distance again
    let mut far_clear_to = 0u64;
    // the vectors are not reallocated here (a rebase rewrites prefix sums in place)
    let (p, pf) = (h.t.as_ptr(), h.f.as_ptr());
    let ep = [0, 1, 2, 3].map(|a| h.e[a].as_mut_ptr());
    'groups: for o in out.chunks_exact_mut(GROUP) {
        if gs + GROUP as u64 > n {
            break;
        }
        let s = h.slot(gs);
        // `History::maybe_rebase`'s decision; its test for a reference far behind is taken once
        // for eight groups when their windows are long (see `far_clear`)
        let t_newest = *p.add(s - 1);
        let due = h.rebase_scheduled(gs, lo)
            || (gs >= far_clear_to && {
                if far_clear(h, gs, d, t_newest) {
                    far_clear_to = gs + 8 * GROUP as u64;
                    false
                } else {
                    h.far_behind(*p.add(h.slot(lo)), t_newest)
                }
            });
        if due {
            h.rebase_now(gs, lo);
            held = 0;
            far_clear_to = 0;
        }
        // one line of timestamps and one of frequencies of the samples to come
        let next = GROUP * done;
        _mm_prefetch::<_MM_HINT_T0>(ahead.0.wrapping_add(next) as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(ahead.1.wrapping_add(next) as *const i8);
        let t = _mm512_loadu_pd(p.add(s));
        let t_before = _mm512_loadu_pd(p.add(s - 1));
        let dt = _mm512_sub_pd(t, t_before);
        let f = _mm512_loadu_pd(pf.add(s));
        if CHECKED {
            // t − t_before > 0 exactly when t > t_before (NaN fails); t and f finite
            good &= _mm512_cmp_pd_mask::<_CMP_GT_OQ>(dt, _mm512_setzero_pd())
                & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(t, inf)
                & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(f), inf);
        }
        // window + (JITTER_SHARE · min(dt, window) + time_resolution(t)), as the lane loop
        let slack = _mm512_add_pd(
            _mm512_mul_pd(share, _mm512_min_pd(dt, w)),
            _mm512_mul_pd(res_scale, _mm512_abs_pd(t)),
        );
        let allowed = _mm512_add_pd(w, slack);
        let evicted = |slot: usize| {
            _mm512_cmp_pd_mask::<_CMP_GT_OQ>(
                _mm512_sub_pd(t, _mm512_loadu_pd(p.add(slot))),
                allowed,
            )
        };
        let mut moved = false;
        let at = loop {
            // at least two samples stay (d ≥ 3), and slot s − d (sample b − 1 of lane 0) is held
            if d < 3 || d as usize >= s {
                break 'groups;
            }
            let sb = s - d as usize + 1;
            let (before, at, after) = (evicted(sb - 1), evicted(sb), evicted(sb + 1));
            if before == 0xFF && after == 0 {
                break at;
            }
            if moved || (before != 0xFF && after != 0) {
                break 'groups;
            }
            // a lane keeps sample b − 1: the windows grew by one; or evicts b + 1: they shrank
            d = if before != 0xFF { d + 1 } else { d - 1 };
            moved = true;
        };
        // lane k: window start b + [b evicted], count d − [b evicted]
        let dd = _mm512_set1_pd(d as f64);
        let nn = _mm512_mask_sub_pd(dd, at, dd, one);
        let starts_from = if held >= 1 && d <= 8 {
            Starts::Near
        } else if held >= 2 && (9..=16).contains(&d) {
            Starts::Behind
        } else {
            Starts::Stored
        };
        // Near: [group before | this group] from slot s − 8; Behind: [two before | before]
        let base = match starts_from {
            Starts::Behind => 16 - d as i64,
            _ => 8 - d as i64,
        };
        let base_idx = _mm512_add_epi64(lane, _mm512_set1_epi64(base));
        let idx = _mm512_mask_add_epi64(base_idx, at, base_idx, one_i);
        let carry = if held >= 1 {
            prev.map(|v| _mm512_permutexvar_pd(last, v))
        } else {
            ep.map(|q| _mm512_set1_pd(*q.add(s - 1)))
        };
        let x = _mm512_sub_pd(t, _mm512_set1_pd(h.t_ref));
        let y = _mm512_sub_pd(f, _mm512_set1_pd(h.f_ref));
        let v = [x, y, _mm512_mul_pd(x, x), _mm512_mul_pd(x, y)];
        // slot of E_(b−1) for lane 0
        let first = s - d as usize;
        let mut sums = [_mm512_setzero_pd(); 4];
        let mut win = [_mm512_setzero_pd(); 4];
        for (j, &q) in ep.iter().enumerate() {
            sums[j] = _mm512_add_pd(scan(v[j]), carry[j]);
            _mm512_storeu_pd(q.add(s), sums[j]);
            let start = match starts_from {
                Starts::Near => _mm512_permutex2var_pd(prev[j], idx, sums[j]),
                Starts::Behind => _mm512_permutex2var_pd(prev2[j], idx, prev[j]),
                Starts::Stored => {
                    let a = _mm512_loadu_pd(q.add(first));
                    _mm512_mask_loadu_pd(a, at, q.add(first + 1))
                }
            };
            win[j] = _mm512_sub_pd(sums[j], start);
        }
        // (n·Σxy − Σx·Σy) / (n·Σxx − (Σx)²), NaN where the denominator is not positive
        let num = _mm512_sub_pd(_mm512_mul_pd(nn, win[3]), _mm512_mul_pd(win[0], win[1]));
        let den = _mm512_sub_pd(_mm512_mul_pd(nn, win[2]), _mm512_mul_pd(win[0], win[0]));
        let positive = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(den, _mm512_setzero_pd());
        let r = _mm512_mask_div_pd(_mm512_set1_pd(f64::NAN), positive, num, den);
        _mm512_storeu_pd(o.as_mut_ptr(), r);
        (prev2, prev) = (prev, sums);
        held += 1;
        // the start of the group's last lane
        lo = gs + GROUP as u64 - d + ((at >> (GROUP - 1)) & 1) as u64;
        gs += GROUP as u64;
        done += 1;
    }
    *ok &= good == 0xFF;
    #[cfg(test)]
    GROUPS_DONE.with(|g| g.set(g.get() + done as u64));
    (done, lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `far_clear` promises that none of the next eight groups finds the reference far behind:
    /// checked against `far_behind` itself at every window start those groups can have, on
    /// jittered series whose reference sits near the threshold.
    #[test]
    fn far_clear_bounds_the_next_eight_groups() {
        let mut r = crate::test_rng::rng(7);
        let n = 6000u64;
        let (mut cleared, mut refused) = (0, 0);
        for _ in 0..200 {
            let ts: Vec<f64> = (0..n)
                .map(|k| 1.8e9 + (k as f64 + 0.3 * (r() - 0.5)) / 1000.0)
                .collect();
            let fs = vec![50.0; n as usize];
            let mut h = History::default();
            h.reserve(0, n as usize, 0);
            h.put(0, &ts, &fs);
            let d = 72 + (r() * 400.0) as u64;
            let gs = 1000 + (r() * 4000.0) as u64 / 8 * 8;
            // a reference about 256 spans of d samples behind: some groups far, some not
            let behind = (100.0 + 200.0 * r()) * d as f64 / 1000.0;
            h.start(ts[(gs - d) as usize] - behind, 50.0);
            let clear = far_clear(&h, gs, d, ts[gs as usize - 1]);
            let mut any_far = false;
            for i in 0..8u64 {
                let g = gs + 8 * i;
                let t_newest = ts[g as usize - 1];
                for lo in g - d - 16..=g + 1 + i - d {
                    any_far |= h.far_behind(ts[lo as usize], t_newest);
                }
            }
            assert!(
                !(clear && any_far),
                "far_clear said clear for a far reference"
            );
            if clear {
                cleared += 1;
            } else {
                refused += 1;
            }
        }
        // both outcomes occur, so the test says something about each
        assert!(
            cleared > 10 && refused > 10,
            "{cleared} cleared, {refused} refused"
        );
        // short windows are never cleared (the bound sample would lie past the group)
        let h = History::default();
        assert!(!far_clear(&h, 8, 71, 0.0));
    }
}
