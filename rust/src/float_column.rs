//! One float32 field's values from many frames (the column decoder's commonest loop): the field's
//! register pair of every frame, put high word first as the word order says, widened, scaled,
//! sign-handled and range-checked as `FieldSpec::read` does.

/// One float32 field's column loop: the frames, the field's register offset and its checks.
#[derive(Clone, Copy)]
pub(crate) struct F32Column {
    pub(crate) frames: *const u16,
    pub(crate) fl: usize,
    pub(crate) off: usize,
    pub(crate) scale: f64,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
}

impl F32Column {
    /// # Safety
    /// The field's two registers of each of the `out.len()` frames lie inside `frames`.
    #[inline(always)]
    pub(crate) unsafe fn run<
        const REV: bool,
        const SWAP: bool,
        const ABS: bool,
        const NEG: bool,
    >(
        &self,
        out: &mut [f64],
    ) {
        for (j, o) in out.iter_mut().enumerate() {
            // both registers in one little-endian load: the first register in the low half
            let pair = (self.frames.add(j * self.fl + self.off) as *const u32).read_unaligned();
            let pair = if SWAP {
                ((pair & 0x00FF_00FF) << 8) | ((pair >> 8) & 0x00FF_00FF)
            } else {
                pair
            };
            // high word first: the first register is the high half
            let bits = if REV { pair } else { pair.rotate_left(16) };
            let raw = f32::from_bits(bits) as f64;
            let mut v = raw * self.scale;
            if ABS {
                v = v.abs();
            }
            if NEG {
                v = -v;
            }
            *o = if raw.abs() < f64::INFINITY && v >= self.lo && v <= self.hi {
                v
            } else {
                f64::NAN
            };
        }
    }

    /// `run` compiled for AVX-512.
    ///
    /// # Safety
    /// As `run`, and the CPU has the AVX-512 features.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
    pub(crate) unsafe fn run_avx512<
        const REV: bool,
        const SWAP: bool,
        const ABS: bool,
        const NEG: bool,
    >(
        &self,
        out: &mut [f64],
    ) {
        use std::arch::x86_64::*;
        // eight frames at a time: one gather of the field's register pair from each frame, then
        // the same operations as `run` on eight lanes
        let n = out.len() / 8 * 8;
        let stride = (2 * self.fl) as i32;
        let lanes = _mm256_mullo_epi32(
            _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0),
            _mm256_set1_epi32(stride),
        );
        let base = self.frames.add(self.off) as *const i32;
        let (scale, lo, hi) = (
            _mm512_set1_pd(self.scale),
            _mm512_set1_pd(self.lo),
            _mm512_set1_pd(self.hi),
        );
        let swap = _mm256_set_epi8(
            14, 15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1, 14, 15, 12, 13, 10, 11, 8, 9, 6,
            7, 4, 5, 2, 3, 0, 1,
        );
        let mut j = 0;
        while j < n {
            let at = (base as *const u8).add(j * 2 * self.fl) as *const i32;
            let mut pair = _mm256_i32gather_epi32::<1>(at, lanes);
            if SWAP {
                pair = _mm256_shuffle_epi8(pair, swap);
            }
            let bits = if REV {
                pair
            } else {
                _mm256_rol_epi32::<16>(pair)
            };
            let v = widen_checked(bits, scale, ABS, NEG, lo, hi);
            _mm512_storeu_pd(out.as_mut_ptr().add(j), v);
            j += 8;
        }
        let rest = F32Column {
            frames: self.frames.add(n * self.fl),
            ..*self
        };
        rest.run::<REV, SWAP, ABS, NEG>(&mut out[n..]);
    }
}

/// Eight float32 bit patterns (the high word already in the high half) to float64 as `run` makes
/// them: widened, scaled, made absolute and negated as asked, NaN where not finite or outside
/// [lo, hi]. Shared by the gathered column loop and the transposing frame decoder.
///
/// # Safety
/// Called from code compiled for AVX-512 on a CPU that has it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn widen_checked(
    bits: std::arch::x86_64::__m256i,
    scale: std::arch::x86_64::__m512d,
    abs: bool,
    neg: bool,
    lo: std::arch::x86_64::__m512d,
    hi: std::arch::x86_64::__m512d,
) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    let raw = _mm512_cvtps_pd(_mm256_castsi256_ps(bits));
    let mut v = _mm512_mul_pd(raw, scale);
    if abs {
        v = _mm512_abs_pd(v);
    }
    if neg {
        // flip the sign bit, as Rust's `-v`
        v = _mm512_castsi512_pd(_mm512_xor_si512(
            _mm512_castpd_si512(v),
            _mm512_set1_epi64(i64::MIN),
        ));
    }
    let ok = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(raw), _mm512_set1_pd(f64::INFINITY))
        & _mm512_cmp_pd_mask::<_CMP_GE_OQ>(v, lo)
        & _mm512_cmp_pd_mask::<_CMP_LE_OQ>(v, hi);
    _mm512_mask_blend_pd(ok, _mm512_set1_pd(f64::NAN), v)
}
