//! Deterministic pseudo-random numbers for the kernels' tests (xorshift64): jitter, noise, signs,
//! register words.

/// The raw 64-bit states after `seed` (seed ≠ 0), the same sequence for the same seed.
pub(crate) fn bits(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// Numbers in [0, 1), the same sequence for the same seed.
pub(crate) fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut next = bits(seed.max(1));
    move || (next() >> 11) as f64 / (1u64 << 53) as f64
}
