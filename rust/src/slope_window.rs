//! The sample history behind the streaming RoCoF estimator, and the least-squares slope of its
//! window computed from prefix sums.
//!
//! The slope over the window [lo, i] needs Σx, Σy, Σx², Σxy of its samples (x = t − t_ref,
//! y = f − f_ref). They are differences of prefix sums, E_i − E_(lo−1), so a sample costs the same
//! whatever the window's length, and no addition waits for the one before: the prefix sums are
//! formed a group of GROUP samples at a time (an in-register scan of the group, then the carry
//! from the group before), so the only dependent addition is one per group. Groups are aligned to
//! the sample's index in the whole series and a chunk that ends inside a group has that group
//! recomputed when the next chunk arrives: every prefix sum is the same number whatever the
//! chunking, hence bit-identical output.
//!
//! The reference sample (t_ref, f_ref) keeps epoch timestamps out of the sums and makes a constant
//! frequency give y = 0, hence a slope of exactly 0. It moves up to the window every few window
//! lengths, or when it has fallen far behind it (after a gap), so the sums stay small and keep their
//! digits; the decision is taken at group boundaries only, from the samples before the boundary.

/// Samples per group: one 512-bit vector of float64.
pub(crate) const GROUP: usize = 8;

/// The reference moves to the window every `REBASE_WINDOWS` window lengths, at least
/// `MIN_REBASE_INTERVAL` samples apart, or sooner when it lies more than `FAR_SPANS` window spans
/// behind the window (after a gap). Recomputing the window's prefix sums costs one window of
/// additions, so this is amortised O(1) per sample (1/32 of a sum per sample; every 8 windows cost
/// 5% of the kernel's time), and the reference stays close enough that the centred sums keep their
/// digits (the cancellation in n·Σx² − (Σx)² grows with the square of the reference's distance
/// over the window's spread: at most ~256² here, about 2e-10 relative, where a RoCoF needs 1e-3).
const REBASE_WINDOWS: u64 = 32;
const MIN_REBASE_INTERVAL: u64 = 1024;
const FAR_SPANS: f64 = 256.0;

/// Sample (t, f) history and prefix sums. Positions count from 1 for the first sample ever;
/// position 0, and position lo at a rebase, hold the zero prefix. Slot `p - base` of each vector
/// holds position p.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    base: u64,
    pub(crate) t: Vec<f64>,
    pub(crate) f: Vec<f64>,
    /// prefix sums of x, y, x², xy
    e: [Vec<f64>; 4],
    pub(crate) t_ref: f64,
    pub(crate) f_ref: f64,
    /// index of the first group start after the last rebase
    rebased_at: u64,
    /// the last group start whose rebase was decided (+1; 0 = none)
    decided: u64,
}

impl History {
    /// Slot of the sample with index `j` (position j + 1).
    #[inline(always)]
    pub(crate) fn slot(&self, j: u64) -> usize {
        (j + 1 - self.base) as usize
    }

    /// Make room for `extra` samples after the `n` already seen (plus a group of slack, so a group
    /// can always be loaded whole), dropping what lies before position `keep_from`.
    pub(crate) fn reserve(&mut self, n: u64, extra: usize, keep_from: u64) {
        let end = (n + 1 - self.base) as usize; // slots in use
        let need = end + extra + GROUP;
        if need <= self.t.len() {
            return;
        }
        let drop = (keep_from - self.base) as usize;
        let live = end - drop;
        let grow = live + extra + GROUP > self.t.len();
        let capacity = (live + extra + GROUP).max(2 * live).max(64);
        for v in [&mut self.t, &mut self.f]
            .into_iter()
            .chain(self.e.iter_mut())
        {
            if v.len() >= end {
                v.copy_within(drop..end, 0);
            }
            // slots past the samples may keep what they hold (finite numbers): a group's lanes
            // beyond its newest sample are computed and never used
            if grow {
                v.truncate(live);
                v.resize(capacity, 0.0);
            }
        }
        self.base = keep_from;
    }

    /// Store samples `j..` (room made by `reserve`).
    #[inline(always)]
    pub(crate) fn put(&mut self, j: u64, ts: &[f64], fs: &[f64]) {
        let s = self.slot(j);
        self.t[s..s + ts.len()].copy_from_slice(ts);
        self.f[s..s + fs.len()].copy_from_slice(fs);
    }

    /// Start the sums at the first sample ever.
    pub(crate) fn start(&mut self, t: f64, f: f64) {
        (self.t_ref, self.f_ref) = (t, f);
        for e in &mut self.e {
            e[0] = 0.0;
        }
    }

    /// At the start `gs` of a group (gs > 0), with the window starting at `lo`: move the reference
    /// to the window if it is due (`rebase_scheduled` or `far_behind`), and recompute the window's
    /// prefix sums from it. Deciding twice for one group changes nothing.
    #[inline(always)]
    pub(crate) fn maybe_rebase(&mut self, gs: u64, lo: u64) {
        if self.decided == gs + 1 {
            return;
        }
        self.decided = gs + 1;
        let (t_oldest, t_newest) = (self.t[self.slot(lo)], self.t[self.slot(gs - 1)]);
        if self.rebase_scheduled(gs, lo) || self.far_behind(t_oldest, t_newest) {
            self.rebase(gs, lo);
        }
    }

    /// Half of the rebase decision: every REBASE_WINDOWS window lengths. A function of its
    /// arguments and the last rebase only, so any caller decides the same.
    #[inline(always)]
    pub(crate) fn rebase_scheduled(&self, gs: u64, lo: u64) -> bool {
        gs - self.rebased_at >= (REBASE_WINDOWS * (gs - lo)).max(MIN_REBASE_INTERVAL)
    }

    /// The other half: the reference lies FAR_SPANS spans behind a window from t_oldest to
    /// t_newest. Rises with t_oldest and falls with t_newest (each operation rounds
    /// monotonically), so a later oldest and an earlier newest bound it from above.
    #[inline(always)]
    pub(crate) fn far_behind(&self, t_oldest: f64, t_newest: f64) -> bool {
        t_oldest - self.t_ref > FAR_SPANS * (t_newest - t_oldest)
    }

    /// Move the reference at group start `gs` (the decision said so).
    #[inline(always)]
    pub(crate) fn rebase_now(&mut self, gs: u64, lo: u64) {
        self.decided = gs + 1;
        self.rebase(gs, lo);
    }

    #[cold]
    #[inline(never)]
    fn rebase(&mut self, gs: u64, lo: u64) {
        let first = self.slot(lo);
        let last = self.slot(gs);
        (self.t_ref, self.f_ref) = (self.t[first], self.f[first]);
        let (t_ref, f_ref) = (self.t_ref, self.f_ref);
        let (ts, fs) = (&self.t[first..last], &self.f[first..last]);
        let [ex, ey, exx, exy] = &mut self.e;
        let (ex, ey) = (&mut ex[first - 1..last], &mut ey[first - 1..last]);
        let (exx, exy) = (&mut exx[first - 1..last], &mut exy[first - 1..last]);
        let mut sums = [0.0; 4];
        (ex[0], ey[0], exx[0], exy[0]) = (0.0, 0.0, 0.0, 0.0);
        for (k, (&t, &f)) in ts.iter().zip(fs).enumerate() {
            let x = t - t_ref;
            let y = f - f_ref;
            sums[0] += x;
            sums[1] += y;
            sums[2] += x * x;
            sums[3] += x * y;
            (ex[k + 1], ey[k + 1], exx[k + 1], exy[k + 1]) = (sums[0], sums[1], sums[2], sums[3]);
        }
        self.rebased_at = gs;
    }

    /// The prefix sums of the group starting at sample `gs` (all GROUP lanes, whether their
    /// samples have arrived or not: a lane's sums depend only on the lanes before it), and the
    /// slopes of the lanes `first..last` into `out`: lane k's window starts at sample
    /// `lo[k]`, and `ready[k]` says whether the history spans the window yet (else NaN).
    #[inline(always)]
    pub(crate) fn group<const AVX512: bool>(
        &mut self,
        gs: u64,
        lo: &[u64; GROUP],
        ready: &[bool; GROUP],
        first: usize,
        last: usize,
        out: &mut [f64],
    ) {
        let s = self.slot(gs);
        let mut lo_slot = [0usize; GROUP];
        let mut n = [0.0f64; GROUP];
        for k in first..last {
            lo_slot[k] = (lo[k] - self.base) as usize; // position lo holds E_(lo−1)
            n[k] = (gs + k as u64 - lo[k] + 1) as f64;
        }
        // lanes not asked for read the group's own start: in bounds, result unused
        for (k, l) in lo_slot.iter_mut().enumerate() {
            if k < first || k >= last {
                *l = s;
            }
        }
        let mut r = [f64::NAN; GROUP];
        #[cfg(target_arch = "x86_64")]
        if AVX512 {
            // Safety: AVX512 is only true in code compiled for and run on AVX-512 CPUs; `reserve`
            // keeps a whole group of slots after every sample, and lo_slot are slots in use
            unsafe { avx512::group(self, s, &lo_slot, &n, &mut r) };
        } else {
            portable_group(self, s, &lo_slot, &n, &mut r);
        }
        #[cfg(not(target_arch = "x86_64"))]
        portable_group(self, s, &lo_slot, &n, &mut r);
        for k in first..last {
            out[k - first] = if ready[k] { r[k] } else { f64::NAN };
        }
    }
}

/// [v0, v0+v1, ...]: the group's running sums, in the association the vector code uses
/// (three steps of shifting in zeros and adding).
#[inline(always)]
fn scan(v: [f64; GROUP]) -> [f64; GROUP] {
    let mut a = v;
    for d in [1, 2, 4] {
        let mut shifted = [0.0; GROUP];
        shifted[d..].copy_from_slice(&a[..GROUP - d]);
        for k in 0..GROUP {
            a[k] += shifted[k];
        }
    }
    a
}

/// The slope from window sums: (n·Σxy − Σx·Σy) / (n·Σxx − (Σx)²), NaN where the denominator
/// (n² times the variance of the window's timestamps) is not positive.
#[inline(always)]
fn slope(n: f64, sx: f64, sy: f64, sxx: f64, sxy: f64) -> f64 {
    let num = n * sxy - sx * sy;
    let den = n * sxx - sx * sx;
    if den > 0.0 {
        num / den
    } else {
        f64::NAN
    }
}

/// `History::group` in plain Rust: the reference the vector copy must match bit for bit.
fn portable_group(
    h: &mut History,
    s: usize,
    lo_slot: &[usize; GROUP],
    n: &[f64; GROUP],
    r: &mut [f64; GROUP],
) {
    let (mut x, mut y, mut xx, mut xy) = ([0.0; GROUP], [0.0; GROUP], [0.0; GROUP], [0.0; GROUP]);
    for k in 0..GROUP {
        x[k] = h.t[s + k] - h.t_ref;
        y[k] = h.f[s + k] - h.f_ref;
        xx[k] = x[k] * x[k];
        xy[k] = x[k] * y[k];
    }
    for (e, v) in h.e.iter_mut().zip([x, y, xx, xy]) {
        let carry = e[s - 1];
        for (slot, a) in e[s..s + GROUP].iter_mut().zip(scan(v)) {
            *slot = a + carry;
        }
    }
    for k in 0..GROUP {
        let (i, l) = (s + k, lo_slot[k]);
        let [ex, ey, exx, exy] = &h.e;
        r[k] = slope(
            n[k],
            ex[i] - ex[l],
            ey[i] - ey[l],
            exx[i] - exx[l],
            exy[i] - exy[l],
        );
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod steady;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use super::{History, GROUP};
    use std::arch::x86_64::*;

    /// Running sums of a group: shift in zeros by 1, 2 and 4 lanes and add, as `scan`. The shifts
    /// are zero-masked permutations: the compiler turns lane shifts with zeros (`valignq`) into
    /// `vexpandpd`, which is three times slower here.
    #[inline(always)]
    pub(super) unsafe fn scan(v: __m512d) -> __m512d {
        let mut a = v;
        a = _mm512_add_pd(a, _mm512_maskz_permutexvar_pd(0xFE, shift_index::<1>(), a));
        a = _mm512_add_pd(a, _mm512_maskz_permutexvar_pd(0xFC, shift_index::<2>(), a));
        _mm512_add_pd(a, _mm512_maskz_permutexvar_pd(0xF0, shift_index::<4>(), a))
    }

    /// Lane k takes lane k − D (lanes below D are masked to zero by the caller).
    #[inline(always)]
    unsafe fn shift_index<const D: i64>() -> __m512i {
        let lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
        _mm512_max_epi64(
            _mm512_sub_epi64(lane, _mm512_set1_epi64(D)),
            _mm512_setzero_si512(),
        )
    }

    /// # Safety
    /// AVX-512F/DQ; slots `s - 1 .. s + GROUP` of the history in bounds; lo_slot[k] < s + k.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
    pub(super) unsafe fn group(
        h: &mut History,
        s: usize,
        lo_slot: &[usize; GROUP],
        n: &[f64; GROUP],
        r: &mut [f64; GROUP],
    ) {
        let t = _mm512_loadu_pd(h.t.as_ptr().add(s));
        let f = _mm512_loadu_pd(h.f.as_ptr().add(s));
        let idx = _mm512_loadu_si512(lo_slot.as_ptr() as *const __m512i);
        let e = &h.e;
        let carry = [0, 1, 2, 3].map(|a| _mm512_set1_pd(e[a][s - 1]));
        let nn = _mm512_loadu_pd(n.as_ptr());
        sums_and_slopes(h, s, t, f, idx, nn, carry, r.as_mut_ptr());
    }

    /// The group's prefix sums from its timestamps `t` (slot `s` on), and the slopes of windows
    /// whose E_(lo−1) sit at slots `idx`, with `n` samples each, stored at `out`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn sums_and_slopes(
        h: &mut History,
        s: usize,
        t: __m512d,
        f: __m512d,
        idx: __m512i,
        nn: __m512d,
        carry: [__m512d; 4],
        out: *mut f64,
    ) {
        let x = _mm512_sub_pd(t, _mm512_set1_pd(h.t_ref));
        let y = _mm512_sub_pd(f, _mm512_set1_pd(h.f_ref));
        let v = [x, y, _mm512_mul_pd(x, x), _mm512_mul_pd(x, y)];
        // Where the windows start: when the starts lie within two vectors of the first, two loads
        // and a permutation; else a gather.
        let first = _mm_cvtsi128_si64(_mm512_castsi512_si128(idx));
        let from_first = _mm512_sub_epi64(idx, _mm512_set1_epi64(first));
        let near = _mm512_cmplt_epu64_mask(from_first, _mm512_set1_epi64(2 * GROUP as i64)) == 0xFF;
        let mut w = [_mm512_setzero_pd(); 4];
        for (j, e) in h.e.iter_mut().enumerate() {
            let p = e.as_mut_ptr();
            let sums = _mm512_add_pd(scan(v[j]), carry[j]);
            _mm512_storeu_pd(p.add(s), sums);
            let starts = if near {
                let a = _mm512_loadu_pd(p.add(first as usize));
                let b = _mm512_loadu_pd(p.add(first as usize + GROUP));
                _mm512_permutex2var_pd(a, from_first, b)
            } else {
                _mm512_i64gather_pd::<8>(idx, p)
            };
            w[j] = _mm512_sub_pd(sums, starts);
        }
        let num = _mm512_sub_pd(_mm512_mul_pd(nn, w[3]), _mm512_mul_pd(w[0], w[1]));
        let den = _mm512_sub_pd(_mm512_mul_pd(nn, w[2]), _mm512_mul_pd(w[0], w[0]));
        let positive = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(den, _mm512_setzero_pd());
        let q = _mm512_mask_div_pd(_mm512_set1_pd(f64::NAN), positive, num, den);
        _mm512_storeu_pd(out, q);
    }
}
