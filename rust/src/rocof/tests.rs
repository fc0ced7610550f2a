//! Tests of the RoCoF estimator: exactness on ramps and constants, chunking, the vector and
//! portable copies bit for bit, and bad input.

use super::*;
use crate::test_rng::rng;

const T0: f64 = 1.8e9;

fn ls(window: f64) -> RocofEstimator {
    RocofEstimator::new(RocofConfig {
        window,
        ..RocofConfig::default()
    })
    .unwrap()
}

fn grid(fs: f64, n: usize) -> Vec<f64> {
    (0..n).map(|k| T0 + k as f64 / fs).collect()
}

#[test]
fn constant_frequency_is_exactly_zero() {
    let mut r = rng(7);
    let ts: Vec<f64> = (0..5000)
        .map(|k| T0 + k as f64 * 0.02 + 0.004 * (r() - 0.5))
        .collect();
    let fs = vec![50.987_654_321; ts.len()];
    let out = ls(0.5).update(&ts, &fs).unwrap();
    assert!(out[..20].iter().all(|v| v.is_nan()));
    assert!(
        out[30..].iter().all(|&v| v.abs() <= 1e-9),
        "{:?}",
        &out[30..40]
    );
}

#[test]
fn nan_until_window_is_spanned() {
    let ts = grid(10.0, 10);
    let fs: Vec<f64> = ts.iter().map(|t| 50.0 + 0.5 * (t - T0)).collect();
    let out = ls(0.5).update(&ts, &fs).unwrap();
    // samples 0..=4 span 0.4 s; sample 5 is the first whose history spans 0.5 s
    assert!(out[..5].iter().all(|v| v.is_nan()));
    assert!(out[5..].iter().all(|v| (v - 0.5).abs() < 1e-6), "{out:?}");
}

#[test]
fn one_hertz_polling_with_half_second_window() {
    let ts = grid(1.0, 5);
    let fs = [50.0, 50.1, 50.3, 50.3, 50.0];
    let out = ls(0.5).update(&ts, &fs).unwrap();
    assert!(out[0].is_nan());
    let want = [0.1, 0.2, 0.0, -0.3];
    for (o, w) in out[1..].iter().zip(want) {
        assert!((o - w).abs() < 1e-12, "{out:?}");
    }
}

#[test]
fn ramp_exact_at_1000_fps_and_window_holds_501_samples() {
    let ts = grid(1000.0, 3000);
    let fs: Vec<f64> = ts.iter().map(|t| 50.0 - 1.0 * (t - T0)).collect();
    let mut est = ls(0.5);
    let out = est.update(&ts, &fs).unwrap();
    assert_eq!(est.window_len(), 501);
    for v in &out[500..] {
        assert!((v + 1.0).abs() < 1e-6, "{v}");
    }
}

#[test]
fn matches_two_pass_least_squares_after_gaps_and_jitter() {
    let mut r = rng(99);
    let mut t = T0;
    let mut ts = Vec::new();
    for k in 0..4000 {
        t += if k % 997 == 0 {
            50.0
        } else {
            0.01 + 0.004 * r()
        };
        ts.push(t);
    }
    let fs: Vec<f64> = ts
        .iter()
        .map(|t| 50.0 + 0.2 * ((t - T0) * 0.7).sin() + 0.001 * r())
        .collect();
    let mut est = ls(0.3);
    for (i, (&t, &f)) in ts.iter().zip(&fs).enumerate() {
        let got = est.step(t, f);
        // reference: a fresh two-pass fit over the samples the estimator holds
        let w: Vec<(f64, f64)> = est.window_samples();
        let xm = w.iter().map(|s| s.0 - T0).sum::<f64>() / w.len() as f64;
        let ym = w.iter().map(|s| s.1).sum::<f64>() / w.len() as f64;
        let num: f64 = w.iter().map(|s| (s.0 - T0 - xm) * (s.1 - ym)).sum();
        let den: f64 = w.iter().map(|s| (s.0 - T0 - xm).powi(2)).sum();
        if i >= 40 {
            let want = num / den;
            assert!(
                (got - want).abs() <= 1e-7 * (1.0 + want.abs()),
                "sample {i}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn chunking_is_bit_identical() {
    let mut r = rng(3);
    let ts: Vec<f64> = (0..3000)
        .map(|k| T0 + k as f64 * 0.001 + 0.0002 * r())
        .collect();
    let fs: Vec<f64> = ts.iter().map(|_| 50.0 + 0.01 * r()).collect();
    for method in [RocofMethod::LeastSquares, RocofMethod::WindowAverage] {
        let cfg = RocofConfig {
            window: 0.5,
            method,
            smoothing: 0.05,
        };
        let whole = RocofEstimator::new(cfg.clone())
            .unwrap()
            .update(&ts, &fs)
            .unwrap();
        let mut est = RocofEstimator::new(cfg).unwrap();
        let mut pieces = Vec::new();
        let mut i = 0;
        for size in [1, 7, 500, 2, 1333].iter().cycle() {
            if i >= ts.len() {
                break;
            }
            let j = (i + size).min(ts.len());
            pieces.extend(est.update(&ts[i..j], &fs[i..j]).unwrap());
            i = j;
        }
        assert_eq!(whole.len(), pieces.len());
        for (a, b) in whole.iter().zip(&pieces) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }
}

#[test]
fn vector_and_portable_copies_agree_bit_for_bit() {
    // jitter, gaps (rebases), rate changes and ragged chunks
    let mut r = rng(11);
    let mut t = T0;
    let mut ts = Vec::new();
    for k in 0..6000 {
        t += match k % 1500 {
            700 => 30.0,
            0..=300 => 0.01 * (1.0 + 0.4 * r()),
            _ => 0.001 * (1.0 + 0.5 * r()),
        };
        ts.push(t);
    }
    agree_bit_for_bit(&ts, &mut r);
}

/// The steady state's vector loop settles each window start between two candidates at a fixed
/// distance. It must give the lane loop's bits on uniform and jittered series, on a rate that
/// drifts (the windows grow one sample at a time) and on one that doubles (the loop hands over),
/// for windows read from registers (5 and 12 samples) and from memory (501), in chunks of any
/// size and when `update` checks a long chunk as it goes; and it must carry such series.
#[test]
fn steady_state_loop_agrees_and_carries_sampled_series() {
    let mut r = rng(21);
    let n = 24_000;
    let uniform: Vec<f64> = (0..n).map(|k| T0 + k as f64 / 1000.0).collect();
    let jittered: Vec<f64> = (0..n)
        .map(|k| T0 + (k as f64 + 0.25 * (2.0 * r() - 1.0)) / 1000.0)
        .collect();
    let mut drifting = Vec::with_capacity(n);
    let mut t = T0;
    for k in 0..n {
        t += if k < 16_000 {
            0.001 / (1.0 + k as f64 / 160_000.0)
        } else {
            0.0005
        };
        drifting.push(t);
    }
    for (name, ts) in [
        ("uniform", &uniform),
        ("jittered", &jittered),
        ("drifting", &drifting),
    ] {
        let fs: Vec<f64> = ts
            .iter()
            .map(|t| 50.0 + 0.2 * ((t - T0) * 1.3).sin() + 0.001 * r())
            .collect();
        for m in [5usize, 12, 501] {
            let window = (m - 1) as f64 / 1000.0;
            let reference = {
                let mut est = ls(window);
                let mut out = vec![0.0; n];
                est.run_unchecked(Level::Baseline, ts, &fs, &mut out);
                out
            };
            assert!(reference[m..].iter().all(|v| v.is_finite()), "{name} {m}");
            if crate::simd::level() < Level::Avx512 {
                continue;
            }
            let before = crate::slope_window::steady::GROUPS_DONE.with(|g| g.get());
            // one long checked chunk, as `update` runs it
            let mut est = ls(window);
            let mut out = vec![0.0; n];
            assert!(est.run::<true>(Level::Avx512, ts, &fs, &mut out));
            let carried = crate::slope_window::steady::GROUPS_DONE.with(|g| g.get()) - before;
            for (k, (a, b)) in reference.iter().zip(&out).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "{name}, {m} samples, sample {k}");
            }
            // ragged chunks
            let mut est = ls(window);
            let mut i = 0;
            for size in [4096, 3, 1, 700, 17].iter().cycle() {
                let j = (i + size).min(n);
                est.run_unchecked(Level::Avx512, &ts[i..j], &fs[i..j], &mut out[i..j]);
                i = j;
                if i == n {
                    break;
                }
            }
            for (k, (a, b)) in reference.iter().zip(&out).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{name}, {m} samples, chunked, sample {k}"
                );
            }
            // the steady loop took nearly every group (the drifting series hands over twice)
            let share = carried as f64 / (n / GROUP) as f64;
            assert!(
                share > 0.9,
                "{name}, {m} samples: {share:.3} of groups in the steady loop"
            );
        }
    }
}

fn agree_bit_for_bit(ts: &[f64], r: &mut impl FnMut() -> f64) {
    let fs: Vec<f64> = ts
        .iter()
        .map(|t| 50.0 + 0.3 * ((t - T0) * 0.9).sin() + 0.002 * r())
        .collect();
    for window in [0.005, 0.05, 0.5] {
        let mut outs = Vec::new();
        for level in [Level::Baseline, Level::Avx2, Level::Avx512] {
            if level > crate::simd::level() {
                continue;
            }
            let mut est = ls(window);
            let mut out = vec![0.0; ts.len()];
            let mut i = 0;
            for size in [3, 1, 1000, 7, 2500].iter().cycle() {
                let j = (i + size).min(ts.len());
                est.run_unchecked(level, &ts[i..j], &fs[i..j], &mut out[i..j]);
                i = j;
                if i == ts.len() {
                    break;
                }
            }
            outs.push(out);
        }
        assert!(outs[0].iter().filter(|v| v.is_finite()).count() > 5000);
        assert!(outs.len() > 1 || crate::simd::level() == Level::Baseline);
        for other in &outs[1..] {
            for (a, b) in outs[0].iter().zip(other) {
                assert_eq!(a.to_bits(), b.to_bits());
            }
        }
    }
}

#[test]
fn window_average_is_exact_on_ramps() {
    let mut r = rng(5);
    let ts: Vec<f64> = (0..400)
        .map(|k| T0 + k as f64 * 0.05 + 0.01 * r())
        .collect();
    let fs: Vec<f64> = ts.iter().map(|t| 50.0 + 0.8 * (t - T0)).collect();
    let mut est = RocofEstimator::new(RocofConfig {
        window: 1.0,
        method: RocofMethod::WindowAverage,
        smoothing: 0.0,
    })
    .unwrap();
    let out = est.update(&ts, &fs).unwrap();
    assert!(out[0].is_nan());
    for v in &out[25..] {
        assert!((v - 0.8).abs() < 1e-6, "{v}");
    }
}

#[test]
fn smoothing_tracks_a_constant_and_adds_its_delay() {
    let cfg = RocofConfig {
        window: 0.2,
        method: RocofMethod::LeastSquares,
        smoothing: 0.3,
    };
    let mut est = RocofEstimator::new(cfg).unwrap();
    assert!((est.group_delay() - 0.4).abs() < 1e-15);
    let ts = grid(50.0, 500);
    let fs: Vec<f64> = ts.iter().map(|t| 50.0 + 0.25 * (t - T0)).collect();
    let out = est.update(&ts, &fs).unwrap();
    assert!((out[499] - 0.25).abs() < 1e-6);
}

#[test]
fn bad_chunks_change_nothing() {
    let mut est = ls(0.5);
    est.update(&[T0, T0 + 0.1], &[50.0, 50.0]).unwrap();
    let before = est.clone();
    let cases: [(&[f64], &[f64]); 5] = [
        (&[T0 + 0.2, T0 + 0.2], &[50.0, 50.0]),
        (&[T0 + 0.1], &[50.0]),
        (&[T0 + 0.2, f64::NAN], &[50.0, 50.0]),
        (&[T0 + 0.2, T0 + 0.3], &[50.0, f64::INFINITY]),
        (&[T0 + 0.2, T0 + 0.3], &[50.0]),
    ];
    for (ts, fs) in cases {
        let err = est.update(ts, fs).unwrap_err();
        assert!(!err.to_string().is_empty());
        assert!(est.window_samples() == before.window_samples());
    }
    assert!(est.update(&[T0 + 0.2], &[50.0]).is_ok());
}

#[test]
fn long_bad_chunk_changes_nothing() {
    // long enough to be checked while it is copied, bad far into it: the blocks before the
    // bad one have been run by then, and must be undone
    let n = 3 * FUSED_CHECK_MIN;
    let mut r = rng(17);
    let ts: Vec<f64> = (0..2 * n)
        .map(|k| T0 + k as f64 * 0.001 + 0.0002 * r())
        .collect();
    let fs: Vec<f64> = ts.iter().map(|t| 50.0 + 0.1 * (t - T0).sin()).collect();
    let (head, tail) = ((&ts[..n], &fs[..n]), (&ts[n..], &fs[n..]));
    let mut want_est = ls(0.5);
    want_est.update(head.0, head.1).unwrap();
    let want = want_est.update(tail.0, tail.1).unwrap();
    let mut est = ls(0.5);
    est.update(head.0, head.1).unwrap();
    let bad_at = n - 5;
    let mut bad_f = tail.1.to_vec();
    bad_f[bad_at] = f64::NAN;
    let mut bad_t = tail.0.to_vec();
    bad_t[bad_at] = bad_t[bad_at - 1];
    let mut early_t = tail.0.to_vec();
    early_t[0] = head.0[n - 1];
    for (bt, bf, says) in [
        (tail.0, &bad_f[..], format!("frequency[{bad_at}] is NaN")),
        (&bad_t[..], tail.1, format!("timestamps[{bad_at}]")),
        (&early_t[..], tail.1, "timestamps[0]".to_string()),
    ] {
        let err = est.update(bt, bf).unwrap_err().to_string();
        assert!(err.contains(&says), "{err}");
        assert_eq!(est.last_timestamp(), Some(head.0[n - 1]));
    }
    let got = est.update(tail.0, tail.1).unwrap();
    assert!(want.iter().all(|v| v.is_finite()));
    for (a, b) in want.iter().zip(&got) {
        assert_eq!(a.to_bits(), b.to_bits());
    }
    // and a long chunk gives the bits that small chunks give
    let mut small = ls(0.5);
    let mut pieces = Vec::new();
    for (t, f) in ts.chunks(1000).zip(fs.chunks(1000)) {
        pieces.extend(small.update(t, f).unwrap());
    }
    for (a, b) in want.iter().zip(&pieces[n..]) {
        assert_eq!(a.to_bits(), b.to_bits());
    }
}

#[test]
fn config_is_validated() {
    for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(RocofEstimator::new(RocofConfig {
            window: w,
            ..RocofConfig::default()
        })
        .is_err());
    }
    assert!(RocofEstimator::new(RocofConfig {
        smoothing: -0.1,
        ..RocofConfig::default()
    })
    .is_err());
    assert!(RocofMethod::parse("median").is_err());
    assert_eq!(
        RocofMethod::parse("window_average").unwrap().name(),
        "window_average"
    );
}
