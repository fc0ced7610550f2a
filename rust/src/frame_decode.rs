//! Float32 fields of many frames at once, by transposition (AVX-512).
//!
//! Decoding field by field fetches each field's register pair from every frame (a gather per
//! eight frames). Meter maps are mostly runs of float32 fields, so here eight frames are read
//! sixteen register pairs at a time (one load per frame), the 8 × 16 block of pairs is transposed
//! in registers, and each field then has its eight frames in one vector: put high word first (a
//! rotation, for ABCD), widened to float64, scaled, sign-handled and range-checked, and stored to
//! its channel's column. The arithmetic is `FieldSpec::read`'s, operation for operation, so the
//! values are bit-identical (a unit test holds them together). Fields of other layouts, and the
//! frames of a tile past its last whole eight, stay with the column decoder.

use crate::channel::NCH;
use crate::profile::CompiledProfile;
use crate::registers::{DType, WordOrder};

/// Register pairs per load: sixteen 32-bit lanes.
const PAIRS: usize = 16;
/// Frames per transposed block.
pub(crate) const FRAMES: usize = 8;

/// One planned field: where its pair sits in its chunk, and how to read it.
#[derive(Clone, Debug)]
struct Field {
    lane: usize,
    channel: usize,
    high_word_first: bool,
    scale: f64,
    lo: f64,
    hi: f64,
    abs: bool,
    negate: bool,
}

/// Sixteen consecutive register pairs of a frame, from register `start`, and its fields.
#[derive(Clone, Debug)]
struct Chunk {
    start: usize,
    /// pairs inside the frame (the others are not loaded)
    lanes: u16,
    fields: Vec<Field>,
}

/// Which fields of a profile are decoded by transposition.
#[derive(Clone, Debug)]
pub(crate) struct FramePlan {
    chunks: Vec<Chunk>,
    /// per field of the profile: decoded here (for whole blocks of eight frames)
    pub(crate) planned: Vec<bool>,
}

impl FramePlan {
    /// The plan for `p`, or None where no field qualifies: float32 without sentinels,
    /// scale-factor register or exact divisor, ABCD or CDAB, not both `abs` and `negate`, and the
    /// first field of its channel (later ones are added to it by the column decoder).
    pub(crate) fn new(p: &CompiledProfile) -> Option<Self> {
        let fl = p.frame_length;
        let mut seen = [false; NCH];
        let mut planned = vec![false; p.fields.len()];
        let mut chunks: Vec<Chunk> = Vec::new();
        for (i, f) in p.fields.iter().enumerate() {
            let first = !seen[f.channel];
            seen[f.channel] = true;
            let ok = first
                && f.dtype == DType::F32
                && f.is_plain()
                && matches!(f.order, WordOrder::Abcd | WordOrder::Cdab)
                && !(f.abs && f.negate)
                && f.offset + 1 < fl;
            if !ok {
                continue;
            }
            let (parity, pair) = (f.offset % 2, f.offset / 2);
            let start = parity + 2 * (pair / PAIRS * PAIRS);
            let ci = match chunks.iter().position(|c| c.start == start) {
                Some(ci) => ci,
                None => {
                    let pairs = ((fl - start) / 2).min(PAIRS);
                    chunks.push(Chunk {
                        start,
                        lanes: ((1u32 << pairs) - 1) as u16,
                        fields: Vec::new(),
                    });
                    chunks.len() - 1
                }
            };
            chunks[ci].fields.push(Field {
                lane: pair % PAIRS,
                channel: f.channel,
                high_word_first: f.order == WordOrder::Abcd,
                scale: f.scale,
                lo: f.min,
                hi: f.max,
                abs: f.abs,
                negate: f.negate,
            });
            planned[i] = true;
        }
        (!chunks.is_empty()).then_some(FramePlan { chunks, planned })
    }

    /// Decode the planned fields of the first `k / FRAMES * FRAMES` frames of `frames` (rows of
    /// `fl` registers) into their channels' columns; returns how many frames that is.
    ///
    /// # Safety
    /// The CPU must have the AVX-512 features (`simd::level()`), and `frames` must hold `k` frames
    /// of the profile the plan was made for.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
    pub(crate) unsafe fn decode_avx512<const N: usize>(
        &self,
        frames: &[u16],
        fl: usize,
        k: usize,
        cols: &mut [[f64; N]],
    ) -> usize {
        use std::arch::x86_64::*;
        let whole = k / FRAMES * FRAMES;
        assert!(whole <= N && k * fl <= frames.len());
        assert!(self
            .chunks
            .iter()
            .all(|c| c.fields.iter().all(|f| f.channel < cols.len())));
        let mut pairs = [_mm256_setzero_si256(); PAIRS];
        for j0 in (0..whole).step_by(FRAMES) {
            for c in &self.chunks {
                transpose(
                    frames.as_ptr().add(j0 * fl + c.start),
                    fl,
                    c.lanes,
                    &mut pairs,
                );
                for f in &c.fields {
                    let x = pairs[f.lane];
                    let bits = if f.high_word_first {
                        _mm256_rol_epi32::<16>(x)
                    } else {
                        x
                    };
                    let v = crate::float_column::widen_checked(
                        bits,
                        _mm512_set1_pd(f.scale),
                        f.abs,
                        f.negate,
                        _mm512_set1_pd(f.lo),
                        _mm512_set1_pd(f.hi),
                    );
                    _mm512_storeu_pd(cols[f.channel].as_mut_ptr().add(j0), v);
                }
            }
        }
        whole
    }
}

/// The sixteen 32-bit pairs at `first` of eight frames `fl` registers apart, transposed:
/// `out[i]` holds pair i of the eight frames.
///
/// # Safety
/// AVX-512; the `lanes` pairs of each of the eight frames readable.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
unsafe fn transpose(
    first: *const u16,
    fl: usize,
    lanes: u16,
    out: &mut [std::arch::x86_64::__m256i; PAIRS],
) {
    use std::arch::x86_64::*;
    let row = |j: usize| _mm512_maskz_loadu_epi32(lanes, first.add(j * fl) as *const i32);
    let r = [
        row(0),
        row(1),
        row(2),
        row(3),
        row(4),
        row(5),
        row(6),
        row(7),
    ];
    // pairs of frames interleaved, then quadruples: u[a] (a < 4) holds, in each 128-bit lane
    // L, pair 4L + a of frames 0..4; u[a + 4] the same of frames 4..8
    let t = [
        _mm512_unpacklo_epi32(r[0], r[1]),
        _mm512_unpackhi_epi32(r[0], r[1]),
        _mm512_unpacklo_epi32(r[2], r[3]),
        _mm512_unpackhi_epi32(r[2], r[3]),
        _mm512_unpacklo_epi32(r[4], r[5]),
        _mm512_unpackhi_epi32(r[4], r[5]),
        _mm512_unpacklo_epi32(r[6], r[7]),
        _mm512_unpackhi_epi32(r[6], r[7]),
    ];
    let u = [
        _mm512_unpacklo_epi64(t[0], t[2]),
        _mm512_unpackhi_epi64(t[0], t[2]),
        _mm512_unpacklo_epi64(t[1], t[3]),
        _mm512_unpackhi_epi64(t[1], t[3]),
        _mm512_unpacklo_epi64(t[4], t[6]),
        _mm512_unpackhi_epi64(t[4], t[6]),
        _mm512_unpacklo_epi64(t[5], t[7]),
        _mm512_unpackhi_epi64(t[5], t[7]),
    ];
    // 128-bit lane L of u[a] and of u[a + 4] side by side: pair 4L + a of all eight frames
    let low = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0); // lanes 0 and 1 of each
    let high = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4); // lanes 2 and 3
    for a in 0..4 {
        let lo = _mm512_permutex2var_epi64(u[a], low, u[a + 4]);
        let hi = _mm512_permutex2var_epi64(u[a], high, u[a + 4]);
        out[a] = _mm512_castsi512_si256(lo);
        out[4 + a] = _mm512_extracti64x4_epi64::<1>(lo);
        out[8 + a] = _mm512_castsi512_si256(hi);
        out[12 + a] = _mm512_extracti64x4_epi64::<1>(hi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::index;
    use crate::profile::FieldSpec;
    use crate::registers::Sentinel;

    #[test]
    fn transposed_values_equal_field_reads() {
        if crate::simd::level() < crate::simd::Level::Avx512 {
            return; // nothing to compare on this CPU: the column decoder runs everywhere
        }
        let mut bits = crate::test_rng::bits(0x9E37_79B9_7F4A_7C15);
        let mut next = || bits() as u16;
        let fl = 41; // odd: frames start at odd registers, and pairs at both parities
        let mut frames: Vec<u16> = (0..fl * 64).map(|_| next()).collect();
        for j in 0..20 {
            frames[j * fl + 2] = 0x4120 + j as u16; // in range of the checked field below
            frames[j * fl + 6] = 0x7F80 * (j % 2) as u16; // and an infinity in CDAB
        }
        let names = [
            "Voltage_L1",
            "Voltage_L2",
            "Voltage_L3",
            "Current_L1",
            "Current_L2",
            "Current_L3",
            "Frequency",
            "ActivePower_L1",
        ];
        let field = |name: &str, offset, order, scale, negate, abs, min, max, sentinels| {
            FieldSpec::new(
                index(name).unwrap(),
                offset,
                DType::F32,
                order,
                scale,
                None,
                sentinels,
                negate,
                abs,
                min,
                max,
                0,
            )
        };
        let inf = f64::INFINITY;
        let fields = vec![
            field(
                names[0],
                2,
                WordOrder::Abcd,
                1.0,
                false,
                false,
                -20.0,
                20.0,
                vec![],
            ),
            field(
                names[1],
                5,
                WordOrder::Cdab,
                2.5,
                true,
                false,
                -inf,
                inf,
                vec![],
            ),
            field(
                names[2],
                8,
                WordOrder::Abcd,
                1.0,
                false,
                true,
                0.0,
                1e30,
                vec![],
            ),
            field(
                names[3],
                11,
                WordOrder::Badc,
                1.0,
                false,
                false,
                -inf,
                inf,
                vec![],
            ),
            field(
                names[4],
                35,
                WordOrder::Abcd,
                1.5,
                false,
                false,
                -inf,
                inf,
                vec![],
            ),
            field(
                names[5],
                38,
                WordOrder::Abcd,
                1.0,
                true,
                true,
                -inf,
                inf,
                vec![],
            ),
            field(
                names[6],
                14,
                WordOrder::Abcd,
                1.0,
                false,
                false,
                -inf,
                inf,
                vec![Sentinel::Max],
            ),
            field(
                names[7],
                30,
                WordOrder::Cdab,
                1.0,
                false,
                false,
                -inf,
                inf,
                vec![],
            ),
        ];
        let p = CompiledProfile::new(fl, vec![(0, fl)], fields, None).unwrap();
        let plan = FramePlan::new(&p).unwrap();
        // BADC, abs with negate, and a sentinel are left to the column decoder
        assert_eq!(
            plan.planned,
            [true, true, true, false, true, false, false, true]
        );
        let mut cols = vec![[f64::NAN; 64]; NCH];
        let done = unsafe { plan.decode_avx512(&frames, fl, 61, &mut cols) };
        assert_eq!(done, 56);
        let mut finite = 0;
        for (f, &planned) in p.fields.iter().zip(&plan.planned) {
            if !planned {
                continue;
            }
            for (j, fr) in frames.chunks_exact(fl).take(done).enumerate() {
                let (want, got) = (f.read(fr), cols[f.channel][j]);
                assert!(
                    want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
                    "{f:?} frame {j}: {got} vs {want}"
                );
                finite += got.is_finite() as usize;
            }
        }
        assert!(finite > 100);
    }

    #[test]
    fn large_batches_equal_frame_by_frame_decoding() {
        // past STREAM_FROM_FRAMES and with a ragged last tile: the transposed fields, the column
        // decoder's, the aggregates and the streamed output against one frame at a time
        let names = [
            "ActivePower_L1",
            "ActivePower_L2",
            "ActivePower_L3",
            "ApparentPower_L1",
            "ApparentPower_L2",
            "ApparentPower_L3",
            "Frequency",
        ];
        let fields: Vec<FieldSpec> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let order = if i == 3 {
                    WordOrder::Badc
                } else {
                    WordOrder::Abcd
                };
                let (min, max) = if *name == "Frequency" {
                    (40.0, 70.0)
                } else {
                    (-1e9, 1e9)
                };
                FieldSpec::new(
                    index(name).unwrap(),
                    2 * i + 1,
                    DType::F32,
                    order,
                    1.0,
                    None,
                    vec![],
                    false,
                    false,
                    min,
                    max,
                    0,
                )
            })
            .collect();
        let fl = 17;
        let p = CompiledProfile::new(fl, vec![(0, fl)], fields, None).unwrap();
        let mut bits = crate::test_rng::bits(7);
        let n = 5003;
        let frames: Vec<u16> = (0..n * fl)
            .map(|i| {
                let x = bits();
                // plausible floats in the high words (exponents around 2^6..2^9), noise below
                if i % fl % 2 == 1 {
                    0x4280 + (x % 0x300) as u16
                } else {
                    x as u16
                }
            })
            .collect();
        let chans = crate::pipeline::decoded_channels(&p);
        let mut batch = vec![vec![0.0; n]; chans.len()];
        {
            let mut outs: Vec<&mut [f64]> = batch.iter_mut().map(|c| c.as_mut_slice()).collect();
            crate::pipeline::decode_frames(&p, &frames, false, &mut outs).unwrap();
        }
        let mut finite = 0;
        for j in (0..n).step_by(7).chain([n - 1]) {
            let mut one = vec![[0.0f64; 1]; chans.len()];
            let mut outs: Vec<&mut [f64]> = one.iter_mut().map(|c| c.as_mut_slice()).collect();
            crate::pipeline::decode_frames(&p, &frames[j * fl..(j + 1) * fl], false, &mut outs)
                .unwrap();
            for (c, col) in batch.iter().enumerate() {
                let (a, b) = (col[j], one[c][0]);
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "frame {j} channel {c}: {a} vs {b}"
                );
                finite += a.is_finite() as usize;
            }
        }
        assert!(finite > 1000);
    }
}
