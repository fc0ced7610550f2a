//! Modbus register words to numbers and back: the eight value types, the four word orders,
//! fixed scales and the vendors' "not available" sentinels.

use crate::error::Result;
use crate::input_err;

/// The value type of a field, as meter documents name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

pub const DTYPE_NAMES: &str = "int16, uint16, int32, uint32, int64, uint64, float32, float64";

impl DType {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "int16" => DType::I16,
            "uint16" => DType::U16,
            "int32" => DType::I32,
            "uint32" => DType::U32,
            "int64" => DType::I64,
            "uint64" => DType::U64,
            "float32" => DType::F32,
            "float64" => DType::F64,
            other => {
                return Err(input_err!(
                    "unknown dtype {other:?}, expected one of {DTYPE_NAMES}"
                ))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Number of 16-bit registers one value occupies.
    pub fn words(self) -> usize {
        match self {
            DType::I16 | DType::U16 => 1,
            DType::I32 | DType::U32 | DType::F32 => 2,
            DType::I64 | DType::U64 | DType::F64 => 4,
        }
    }

    pub fn bits(self) -> u32 {
        16 * self.words() as u32
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    pub fn is_signed(self) -> bool {
        matches!(self, DType::I16 | DType::I32 | DType::I64)
    }

    /// The number held in `bits` (the value's words joined big-endian, right-aligned).
    #[inline(always)]
    pub fn value(self, bits: u64) -> f64 {
        match self {
            DType::I16 => bits as u16 as i16 as f64,
            DType::U16 => bits as u16 as f64,
            DType::I32 => bits as u32 as i32 as f64,
            DType::U32 => bits as u32 as f64,
            DType::I64 => bits as i64 as f64,
            DType::U64 => bits as f64,
            DType::F32 => f32::from_bits(bits as u32) as f64,
            DType::F64 => f64::from_bits(bits),
        }
    }

    /// The bits that hold `raw` in this type, or an error if it does not fit.
    pub fn bits_of(self, raw: f64) -> Result<u64> {
        if self.is_float() {
            return Ok(match self {
                DType::F32 => (raw as f32).to_bits() as u64,
                _ => raw.to_bits(),
            });
        }
        if !raw.is_finite() {
            return Err(input_err!("{raw} cannot be stored in {}", self.name()));
        }
        let r = raw.round();
        let (lo, hi) = match self {
            DType::I16 => (i16::MIN as f64, i16::MAX as f64),
            DType::U16 => (0.0, u16::MAX as f64),
            DType::I32 => (i32::MIN as f64, i32::MAX as f64),
            DType::U32 => (0.0, u32::MAX as f64),
            // 2^63 and 2^64 are exact in f64; the upper bounds are exclusive.
            DType::I64 => (-(2f64.powi(63)), 2f64.powi(63)),
            _ => (0.0, 2f64.powi(64)),
        };
        let out_of_range = match self {
            DType::I64 | DType::U64 => r < lo || r >= hi,
            _ => r < lo || r > hi,
        };
        if out_of_range {
            return Err(input_err!(
                "{raw} does not fit in {} (range {lo}..{hi})",
                self.name()
            ));
        }
        Ok(match self {
            DType::I16 => r as i16 as u16 as u64,
            DType::I32 => r as i32 as u32 as u64,
            DType::I64 => r as i64 as u64,
            _ => r as u64,
        })
    }
}

/// How a multi-register value is laid out. Letters name bytes, A the most significant.
/// ABCD: high word first, big-endian bytes. CDAB: low word first. BADC: high word first with the
/// bytes of each word swapped. DCBA: fully little-endian. For 64-bit values the same rule holds
/// over four words (CDAB = the four words in reverse order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordOrder {
    Abcd,
    Cdab,
    Badc,
    Dcba,
}

impl WordOrder {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "ABCD" => WordOrder::Abcd,
            "CDAB" => WordOrder::Cdab,
            "BADC" => WordOrder::Badc,
            "DCBA" => WordOrder::Dcba,
            other => {
                return Err(input_err!(
                    "unknown word order {other:?}, expected one of ABCD, CDAB, BADC, DCBA"
                ))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            WordOrder::Abcd => "ABCD",
            WordOrder::Cdab => "CDAB",
            WordOrder::Badc => "BADC",
            WordOrder::Dcba => "DCBA",
        }
    }

    fn reversed_words(self) -> bool {
        matches!(self, WordOrder::Cdab | WordOrder::Dcba)
    }

    fn swapped_bytes(self) -> bool {
        matches!(self, WordOrder::Badc | WordOrder::Dcba)
    }
}

/// Join the words of one value into its bits.
#[inline(always)]
fn join<const REV: bool, const SWAP: bool>(words: &[u16]) -> u64 {
    let mut bits = 0u64;
    let n = words.len();
    for i in 0..n {
        let w = if REV { words[n - 1 - i] } else { words[i] };
        let w = if SWAP { w.swap_bytes() } else { w };
        bits = (bits << 16) | w as u64;
    }
    bits
}

/// Join the words of one value into its bits, for any order.
#[inline]
pub fn join_words(words: &[u16], order: WordOrder) -> u64 {
    match order {
        WordOrder::Abcd => join::<false, false>(words),
        WordOrder::Cdab => join::<true, false>(words),
        WordOrder::Badc => join::<false, true>(words),
        WordOrder::Dcba => join::<true, true>(words),
    }
}

/// Split bits into the words of one value, in the given order.
pub fn split_words(bits: u64, dtype: DType, order: WordOrder, out: &mut [u16]) {
    let n = dtype.words();
    for i in 0..n {
        // word i in ABCD order is the i-th most significant 16 bits
        let w = (bits >> (16 * (n - 1 - i))) as u16;
        let w = if order.swapped_bytes() {
            w.swap_bytes()
        } else {
            w
        };
        let pos = if order.reversed_words() { n - 1 - i } else { i };
        out[pos] = w;
    }
}

/// The words that encode `value` (in units, before dividing by `scale`).
pub fn encode_value(value: f64, dtype: DType, order: WordOrder, scale: f64) -> Result<Vec<u16>> {
    if scale == 0.0 || !scale.is_finite() {
        return Err(input_err!("scale must be finite and non-zero, got {scale}"));
    }
    let bits = dtype.bits_of(value / scale)?;
    let mut out = vec![0u16; dtype.words()];
    split_words(bits, dtype, order, &mut out);
    Ok(out)
}

#[inline(always)]
fn decode_loop<const W: usize, const REV: bool, const SWAP: bool>(
    regs: &[u16],
    out: &mut [f64],
    value: impl Fn(u64) -> f64,
    scale: f64,
) {
    for (chunk, o) in regs.chunks_exact(W).zip(out.iter_mut()) {
        *o = value(join::<REV, SWAP>(chunk)) * scale;
    }
}

#[inline(always)]
fn decode_words<const W: usize>(
    regs: &[u16],
    out: &mut [f64],
    value: impl Fn(u64) -> f64 + Copy,
    order: WordOrder,
    scale: f64,
) {
    match order {
        WordOrder::Abcd => decode_loop::<W, false, false>(regs, out, value, scale),
        WordOrder::Cdab => decode_loop::<W, true, false>(regs, out, value, scale),
        WordOrder::Badc => decode_loop::<W, false, true>(regs, out, value, scale),
        WordOrder::Dcba => decode_loop::<W, true, true>(regs, out, value, scale),
    }
}

/// Decode a run of equally typed values. `regs.len()` must be a multiple of the type's width.
pub fn decode_values(regs: &[u16], dtype: DType, order: WordOrder, scale: f64) -> Result<Vec<f64>> {
    let mut out = vec![0.0f64; regs.len() / dtype.words()];
    decode_values_into(regs, dtype, order, scale, &mut out)?;
    Ok(out)
}

/// The number of values `regs` holds, or why it holds no whole number of them.
pub fn value_count(regs: &[u16], dtype: DType) -> Result<usize> {
    let w = dtype.words();
    if !regs.len().is_multiple_of(w) {
        return Err(input_err!(
            "{} registers do not hold whole {} values ({} registers each)",
            regs.len(),
            dtype.name(),
            w
        ));
    }
    Ok(regs.len() / w)
}

/// `decode_values` into a caller's buffer of `value_count` values (e.g. a numpy array).
pub fn decode_values_into(
    regs: &[u16],
    dtype: DType,
    order: WordOrder,
    scale: f64,
    out: &mut [f64],
) -> Result<()> {
    let n = value_count(regs, dtype)?;
    if !scale.is_finite() {
        return Err(input_err!("scale must be finite, got {scale}"));
    }
    if out.len() != n {
        return Err(input_err!("output has {} values, expected {n}", out.len()));
    }
    match crate::simd::level() {
        // Safety: `level` says the CPU has the features
        #[cfg(target_arch = "x86_64")]
        crate::simd::Level::Avx512 => unsafe { decode_avx512(regs, dtype, order, scale, out) },
        _ => decode_any(regs, dtype, order, scale, out),
    }
    Ok(())
}

/// `decode_any` compiled for AVX-512 (the loops vectorise 512 bits wide).
///
/// # Safety
/// The CPU must have the AVX-512 features (`simd::level()`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
unsafe fn decode_avx512(regs: &[u16], dtype: DType, order: WordOrder, scale: f64, out: &mut [f64]) {
    decode_any(regs, dtype, order, scale, out)
}

#[inline(always)]
fn decode_any(regs: &[u16], dtype: DType, order: WordOrder, scale: f64, out: &mut [f64]) {
    // One closure per type, so each (width, order, type) loop is its own function without a
    // branch on the type inside (a runtime `DType` argument kept the F32 loop scalar).
    macro_rules! run {
        ($w:literal, $t:expr) => {
            decode_words::<$w>(regs, out, |bits| $t.value(bits), order, scale)
        };
    }
    match dtype {
        DType::I16 => run!(1, DType::I16),
        DType::U16 => run!(1, DType::U16),
        DType::I32 => run!(2, DType::I32),
        DType::U32 => run!(2, DType::U32),
        DType::F32 => run!(2, DType::F32),
        DType::I64 => run!(4, DType::I64),
        DType::U64 => run!(4, DType::U64),
        DType::F64 => run!(4, DType::F64),
    }
}

/// A vendor's "no value here" marker, compared on the raw bits before scaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sentinel {
    /// The type's most negative value: int16 0x8000 (SunSpec), int32 0x80000000 (blackout).
    Min,
    /// The type's largest signed value: int16 0x7FFF (ABB PF), int32 0x7FFFFFFF.
    Max,
    /// Every bit set: uint16 0xFFFF (SunSpec), uint64 all-FF (ABB).
    AllOnes,
    /// Zero: SunSpec acc32/acc64 "not implemented".
    Zero,
    /// A specific raw value.
    Raw(u64),
}

impl Sentinel {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "min" => Sentinel::Min,
            "max" => Sentinel::Max,
            "all_ones" => Sentinel::AllOnes,
            "zero" => Sentinel::Zero,
            other => {
                let raw = if let Some(hex) = other
                    .strip_prefix("0x")
                    .or_else(|| other.strip_prefix("0X"))
                {
                    u64::from_str_radix(hex, 16).ok()
                } else {
                    other.parse::<u64>().ok()
                };
                match raw {
                    Some(v) => Sentinel::Raw(v),
                    None => {
                        return Err(input_err!(
                            "unknown sentinel {other:?}, expected min, max, all_ones, zero or a raw value such as 0x8000"
                        ))
                    }
                }
            }
        })
    }

    /// Whether `bits` of a value of `dtype` is this sentinel.
    #[inline]
    pub fn matches(self, bits: u64, dtype: DType) -> bool {
        let nbits = dtype.bits();
        let mask = if nbits == 64 {
            u64::MAX
        } else {
            (1u64 << nbits) - 1
        };
        match self {
            Sentinel::Min => bits == 1u64 << (nbits - 1),
            Sentinel::Max => bits == (1u64 << (nbits - 1)) - 1,
            Sentinel::AllOnes => bits == mask,
            Sentinel::Zero => bits == 0,
            Sentinel::Raw(v) => bits == v & mask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_encodings_from_meters_md() {
        let d = |r: &[u16], t, o| decode_values(r, t, o, 1.0).unwrap()[0];
        assert_eq!(d(&[0x4366, 0x0000], DType::F32, WordOrder::Abcd), 230.0);
        assert_eq!(d(&[0xC4BB, 0x8000], DType::F32, WordOrder::Abcd), -1500.0);
        assert_eq!(d(&[0x449A, 0x5000], DType::F32, WordOrder::Abcd), 1234.5);
        // Carlo Gavazzi: low word first
        assert_eq!(d(&[0xC568, 0xFFFF], DType::I32, WordOrder::Cdab), -15000.0);
        assert_eq!(d(&[0x3039, 0x0000], DType::I32, WordOrder::Cdab), 12345.0);
        // ABB
        assert_eq!(d(&[0xFFFD, 0xB610], DType::I32, WordOrder::Abcd), -150000.0);
        assert_eq!(
            d(&[0, 0, 0x0001, 0xE240], DType::U64, WordOrder::Abcd),
            123456.0
        );
        // Siemens float64
        assert_eq!(
            d(&[0x4132, 0xD687, 0, 0], DType::F64, WordOrder::Abcd),
            1234567.0
        );
        // SunSpec int16
        assert_eq!(d(&[0xC568], DType::I16, WordOrder::Abcd), -15000.0);
    }

    #[test]
    fn word_orders_agree_on_bytes() {
        // 0x11223344 in each layout
        let cases = [
            (WordOrder::Abcd, [0x1122u16, 0x3344]),
            (WordOrder::Cdab, [0x3344, 0x1122]),
            (WordOrder::Badc, [0x2211, 0x4433]),
            (WordOrder::Dcba, [0x4433, 0x2211]),
        ];
        for (order, words) in cases {
            assert_eq!(join_words(&words, order), 0x11223344, "{order:?}");
            let mut back = [0u16; 2];
            split_words(0x11223344, DType::U32, order, &mut back);
            assert_eq!(back, words, "{order:?}");
        }
    }

    #[test]
    fn encode_decode_round_trip_every_type_and_order() {
        let types = [
            DType::I16,
            DType::U16,
            DType::I32,
            DType::U32,
            DType::I64,
            DType::U64,
            DType::F32,
            DType::F64,
        ];
        let orders = [
            WordOrder::Abcd,
            WordOrder::Cdab,
            WordOrder::Badc,
            WordOrder::Dcba,
        ];
        for t in types {
            for o in orders {
                let v = if t.is_signed() || t.is_float() {
                    -1234.0
                } else {
                    1234.0
                };
                let words = encode_value(v, t, o, 0.5).unwrap();
                assert_eq!(
                    decode_values(&words, t, o, 0.5).unwrap(),
                    vec![v],
                    "{t:?} {o:?}"
                );
            }
        }
    }

    #[test]
    fn wrong_length_and_overflow_are_errors() {
        assert!(decode_values(&[1, 2, 3], DType::F32, WordOrder::Abcd, 1.0).is_err());
        assert!(encode_value(40000.0, DType::I16, WordOrder::Abcd, 1.0).is_err());
        assert!(encode_value(-1.0, DType::U32, WordOrder::Abcd, 1.0).is_err());
        assert!(encode_value(1.0, DType::U32, WordOrder::Abcd, 0.0).is_err());
    }

    #[test]
    fn sentinels() {
        assert!(Sentinel::Min.matches(0x8000, DType::I16));
        assert!(Sentinel::Min.matches(0x8000_0000, DType::I32));
        assert!(Sentinel::Max.matches(0x7FFF, DType::I16));
        assert!(Sentinel::AllOnes.matches(u64::MAX, DType::U64));
        assert!(Sentinel::AllOnes.matches(0xFFFF, DType::U16));
        assert!(!Sentinel::AllOnes.matches(0xFFFE, DType::U16));
        assert!(Sentinel::Zero.matches(0, DType::U32));
        assert_eq!(Sentinel::parse("0x8000").unwrap(), Sentinel::Raw(0x8000));
        assert!(Sentinel::parse("nope").is_err());
    }
}
