//! How long the RoCoF kernel takes on its own: 1,000,000 samples in cache, the output
//! preallocated (no page faults), for the benchmark's four cases. Not a test of correctness, and
//! ignored by default: `cargo test --release kernel_in_cache -- --ignored --nocapture`.

use crate::rocof::{RocofConfig, RocofEstimator};

/// Kernel time per 1,000,000 samples, in cache, output preallocated:
/// `cargo test --release kernel_in_cache -- --ignored --nocapture`
#[test]
#[ignore]
fn kernel_in_cache() {
    let n = 1_000_000;
    let mut r = crate::test_rng::rng(1);
    for (m, jit) in [(501usize, 0.0), (501, 0.25), (5, 0.0), (5, 0.25)] {
        let ts: Vec<f64> = (0..n)
            .map(|k| 1.8e9 + (k as f64 + jit * (2.0 * r() - 1.0)) / 1000.0)
            .collect();
        let fs: Vec<f64> = (0..n).map(|_| 50.0 + 0.001 * r()).collect();
        let mut out = vec![0.0; n];
        let mut best = f64::INFINITY;
        let mut all = vec![];
        for _ in 0..40 {
            let mut est = RocofEstimator::new(RocofConfig {
                window: (m - 1) as f64 / 1000.0,
                ..RocofConfig::default()
            })
            .unwrap();
            let a = std::time::Instant::now();
            est.update_into(&ts, &fs, &mut out).unwrap();
            let d = a.elapsed().as_secs_f64();
            best = best.min(d);
            all.push(d);
        }
        assert!(out[m..].iter().all(|v| v.is_finite()));
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "m={m} jitter={jit}: min {:.3} ms median {:.3} ms ({:?})",
            best * 1e3,
            all[all.len() / 2] * 1e3,
            crate::simd::level()
        );
    }
}
