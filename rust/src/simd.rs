//! Runtime choice of instruction set for the kernels' hot loops.
//!
//! The loops are plain Rust written so that the compiler vectorises them: fixed-width lanes, no
//! bounds checks, selects instead of branches. Each kernel compiles its loop three times: for the
//! x86-64 baseline, and inside `#[target_feature]` functions for AVX2 and for AVX-512 (512-bit
//! vectors: twice the lanes per instruction), and runs the best copy the CPU can (`level()`).
//! Rust never fuses a multiply and an add on its own, so every copy does the same IEEE operations
//! in the same order and their results are bit-identical (each kernel's unit tests run the copies
//! and compare the bits).

/// Instruction sets a kernel can be run with, best last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Baseline,
    Avx2,
    Avx512,
}

/// The instruction set the kernels run with: the best this CPU has, lowered by the environment
/// variable `GRIDTAP_SIMD` (`baseline`, `avx2` or `avx512`; never raised above what the CPU has),
/// so the portable copies can be run and measured on a machine that has the wider ones.
/// Read once, on first use.
#[inline]
pub fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = std::env::var("GRIDTAP_SIMD")
            .ok()
            .and_then(|v| parse_level(&v));
        cpu_level().min(cap.unwrap_or(Level::Avx512))
    })
}

/// `baseline`, `avx2` or `avx512` (any case); anything else is ignored.
fn parse_level(name: &str) -> Option<Level> {
    match name.trim().to_ascii_lowercase().as_str() {
        "baseline" => Some(Level::Baseline),
        "avx2" => Some(Level::Avx2),
        "avx512" => Some(Level::Avx512),
        _ => None,
    }
}

/// The best instruction set of this CPU that the kernels have a copy for.
pub fn cpu_level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("bmi2")
        {
            return Level::Avx512;
        }
        if std::is_x86_feature_detected!("avx2") {
            return Level::Avx2;
        }
    }
    Level::Baseline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_parse_and_never_exceed_the_cpu() {
        assert_eq!(parse_level("baseline"), Some(Level::Baseline));
        assert_eq!(parse_level(" AVX2 "), Some(Level::Avx2));
        assert_eq!(parse_level("avx512"), Some(Level::Avx512));
        assert_eq!(parse_level("sse9"), None);
        assert!(level() <= cpu_level());
    }
}
