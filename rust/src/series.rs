//! Checks of a timestamped series chunk, shared by the streaming kernels: lengths, timestamps
//! finite and strictly increasing (also past the last accepted one), values finite. A chunk is
//! checked whole before any of it is used, so a refused chunk changes nothing.

use crate::error::Result;
use crate::input_err;
use crate::simd::Level;

/// Check a chunk's timestamps before any of it is used: finite and strictly increasing, also
/// past `last`, the newest timestamp already accepted. Shared by the streaming kernels.
pub fn check_timestamps(last: Option<f64>, ts: &[f64]) -> Result<()> {
    let mut prev = last.unwrap_or(f64::NEG_INFINITY);
    for (i, &t) in ts.iter().enumerate() {
        // one combined test per sample; the detailed diagnosis only runs on failure
        if !(t > prev && t.is_finite()) {
            if !t.is_finite() {
                return Err(input_err!(
                    "timestamps[{i}] is {t}; expected finite epoch seconds"
                ));
            }
            return Err(if i == 0 {
                input_err!(
                    "timestamps[0] = {t} is not after the last accepted timestamp {prev}; \
                     timestamps must be strictly increasing across updates"
                )
            } else {
                input_err!(
                    "timestamps[{i}] = {t} is not after timestamps[{}] = {prev}; \
                     timestamps must be strictly increasing",
                    i - 1
                )
            });
        }
        prev = t;
    }
    Ok(())
}

/// Check that a series has one value per timestamp.
pub fn check_length(n_timestamps: usize, values: &[f64], name: &str) -> Result<()> {
    if values.len() != n_timestamps {
        return Err(input_err!(
            "{name} has {} values but timestamps has {n_timestamps}; expected one value per timestamp",
            values.len()
        ));
    }
    Ok(())
}

/// Check that every value is finite (missing samples must be dropped, not passed as NaN).
pub fn check_finite(values: &[f64], name: &str) -> Result<()> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(input_err!(
            "{name}[{i}] is {}; expected finite values (drop missing samples, with their timestamps)",
            values[i]
        ));
    }
    Ok(())
}

/// Length, timestamps and finiteness of a timestamped series chunk, in one pass over the data.
pub fn check_series(last: Option<f64>, ts: &[f64], values: &[f64], name: &str) -> Result<()> {
    check_length(ts.len(), values, name)?;
    if !series_ok(crate::simd::level(), last, ts, values) {
        // name the problem: the timestamps first, then the values
        check_timestamps(last, ts)?;
        check_finite(values, name)?;
    }
    Ok(())
}

/// Whether every timestamp is finite and after the one before (the first after `last`) and
/// every value finite. Branch-free over blocks, so that it vectorises.
fn series_ok(level: Level, last: Option<f64>, ts: &[f64], values: &[f64]) -> bool {
    #[inline(always)]
    fn body(last: Option<f64>, ts: &[f64], values: &[f64]) -> bool {
        let (Some(&first), Some(&v0)) = (ts.first(), values.first()) else {
            return true;
        };
        let prev = last.unwrap_or(f64::NEG_INFINITY);
        if !(first > prev && first < f64::INFINITY && v0.is_finite()) {
            return false;
        }
        let (later, before) = (&ts[1..], &ts[..ts.len() - 1]);
        let later_values = &values[1..ts.len()];
        for ((t1, t0), v) in later
            .chunks(1024)
            .zip(before.chunks(1024))
            .zip(later_values.chunks(1024))
        {
            let mut ok = true;
            for ((&t1, &t0), &v) in t1.iter().zip(t0).zip(v) {
                ok &= (t1 > t0) & (t1 < f64::INFINITY) & (v.abs() < f64::INFINITY);
            }
            if !ok {
                return false;
            }
        }
        true
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
    unsafe fn body_avx512(last: Option<f64>, ts: &[f64], values: &[f64]) -> bool {
        body(last, ts, values)
    }
    match level {
        // Safety: `level` says the CPU has the features
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { body_avx512(last, ts, values) },
        _ => body(last, ts, values),
    }
}
