//! The compiled form of a device profile: where each channel sits in a frame and how to read it.
//! Python parses and checks the TOML once and builds this; the pipeline then runs it per frame.

use crate::channel::{self, DERIVED_ONLY, NCH};
use crate::error::Result;
use crate::float_column::F32Column;
use crate::input_err;
use crate::registers::{join_words, DType, Sentinel, WordOrder};
use crate::simd::Level;

/// How one field's register words become a value in the standard convention.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSpec {
    pub channel: usize,
    /// register offset in the frame
    pub offset: usize,
    pub dtype: DType,
    pub order: WordOrder,
    /// fixed multiplier (raw → unit)
    pub scale: f64,
    /// SunSpec: offset of an int16 register holding a power-of-ten exponent applied on top of `scale`
    pub sf_offset: Option<usize>,
    pub sentinels: Vec<Sentinel>,
    /// flip the sign (the meter's native sign is the opposite of the standard one)
    pub negate: bool,
    /// take the magnitude (a meter that signs a quantity the standard defines as ≥ 0)
    pub abs: bool,
    /// physical range after scaling and sign handling; outside it the value is invalid
    pub min: f64,
    pub max: f64,
    /// the read block the field's registers belong to
    pub block: usize,
    /// exact division instead of multiplying by an inexact decimal such as 0.1
    divisor: Option<f64>,
}

impl FieldSpec {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        channel: usize,
        offset: usize,
        dtype: DType,
        order: WordOrder,
        scale: f64,
        sf_offset: Option<usize>,
        sentinels: Vec<Sentinel>,
        negate: bool,
        abs: bool,
        min: f64,
        max: f64,
        block: usize,
    ) -> Self {
        // 0.1, 0.01, 0.001 ... are inexact in binary: dividing by 10, 100, 1000 rounds once.
        let inv = 1.0 / scale;
        let divisor = if scale.abs() < 1.0 && inv.round() == inv && 1.0 / inv.round() == scale {
            Some(inv.round())
        } else {
            None
        };
        FieldSpec {
            channel,
            offset,
            dtype,
            order,
            scale,
            sf_offset,
            sentinels,
            negate,
            abs,
            min,
            max,
            block,
            divisor,
        }
    }

    pub fn words(&self) -> usize {
        self.dtype.words()
    }

    /// No sentinel, scale-factor register or exact divisor: the value is raw × scale, checked.
    pub fn is_plain(&self) -> bool {
        self.sentinels.is_empty() && self.sf_offset.is_none() && self.divisor.is_none()
    }

    /// `read` for every frame of `frames` (rows of `fl` registers) into `out`. Float32 fields
    /// without sentinel, scale-factor register or divisor (the commonest layout) have their own
    /// branch-free loop, compiled for the best instruction set of the CPU; the result is the same
    /// as `read`'s (a unit test holds them together).
    pub fn read_column(&self, frames: &[u16], fl: usize, out: &mut [f64]) {
        if self.is_plain() && self.dtype == DType::F32 {
            self.f32_column(crate::simd::level(), frames, fl, out);
        } else {
            for (o, fr) in out.iter_mut().zip(frames.chunks_exact(fl)) {
                *o = self.read(fr);
            }
        }
    }

    fn f32_column(&self, level: Level, frames: &[u16], fl: usize, out: &mut [f64]) {
        let n = out.len().min(frames.len() / fl.max(1));
        // every read below lies inside the first n frames
        assert!(self.offset + 1 < fl && n * fl <= frames.len());
        let out = &mut out[..n];
        let p = F32Column {
            frames: frames.as_ptr(),
            fl,
            off: self.offset,
            scale: self.scale,
            lo: self.min,
            hi: self.max,
        };
        macro_rules! orders {
            ($run:ident) => {
                match (self.order, self.abs, self.negate) {
                    (WordOrder::Abcd, false, false) => p.$run::<false, false, false, false>(out),
                    (WordOrder::Abcd, false, true) => p.$run::<false, false, false, true>(out),
                    (WordOrder::Abcd, true, false) => p.$run::<false, false, true, false>(out),
                    (WordOrder::Abcd, true, true) => p.$run::<false, false, true, true>(out),
                    (WordOrder::Cdab, false, false) => p.$run::<true, false, false, false>(out),
                    (WordOrder::Cdab, false, true) => p.$run::<true, false, false, true>(out),
                    (WordOrder::Cdab, true, false) => p.$run::<true, false, true, false>(out),
                    (WordOrder::Cdab, true, true) => p.$run::<true, false, true, true>(out),
                    (WordOrder::Badc, false, false) => p.$run::<false, true, false, false>(out),
                    (WordOrder::Badc, false, true) => p.$run::<false, true, false, true>(out),
                    (WordOrder::Badc, true, false) => p.$run::<false, true, true, false>(out),
                    (WordOrder::Badc, true, true) => p.$run::<false, true, true, true>(out),
                    (WordOrder::Dcba, false, false) => p.$run::<true, true, false, false>(out),
                    (WordOrder::Dcba, false, true) => p.$run::<true, true, false, true>(out),
                    (WordOrder::Dcba, true, false) => p.$run::<true, true, true, false>(out),
                    (WordOrder::Dcba, true, true) => p.$run::<true, true, true, true>(out),
                }
            };
        }
        match level {
            // Safety: `level` says the CPU has the features; the assert above bounds the reads
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => unsafe { orders!(run_avx512) },
            // Safety: as above
            _ => unsafe { orders!(run) },
        }
    }

    /// The field's value in the standard convention, NaN when there is no valid value.
    #[inline]
    pub fn read(&self, frame: &[u16]) -> f64 {
        let bits = join_words(
            &frame[self.offset..self.offset + self.dtype.words()],
            self.order,
        );
        if self.sentinels.iter().any(|s| s.matches(bits, self.dtype)) {
            return f64::NAN;
        }
        let raw = self.dtype.value(bits);
        if !raw.is_finite() {
            return f64::NAN;
        }
        let mut v = match self.divisor {
            Some(d) => raw / d,
            None => raw * self.scale,
        };
        if let Some(sfo) = self.sf_offset {
            let sf = frame[sfo] as i16;
            // 0x8000 is SunSpec's "not implemented"; exponents beyond ±10 are garbage
            if sf == i16::MIN || !(-10..=10).contains(&sf) {
                return f64::NAN;
            }
            v = if sf < 0 {
                v / 10f64.powi(-(sf as i32))
            } else {
                v * 10f64.powi(sf as i32)
            };
        }
        if self.abs {
            v = v.abs();
        }
        if self.negate {
            v = -v;
        }
        if v < self.min || v > self.max {
            return f64::NAN;
        }
        v
    }
}

/// How ApparentPower (total) is formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApparentMode {
    /// Σ S_i over the phases (DESIGN default where per-phase values exist)
    Arithmetic,
    /// √(P² + Q²) of the totals
    Vector,
    /// the meter's own total register
    Meter,
}

impl ApparentMode {
    pub fn name(self) -> &'static str {
        match self {
            ApparentMode::Arithmetic => "arithmetic",
            ApparentMode::Vector => "vector",
            ApparentMode::Meter => "meter",
        }
    }
}

#[derive(Clone, Debug)]
pub struct CompiledProfile {
    pub frame_length: usize,
    /// (offset, count) of each read block in the frame, in frame order
    pub blocks: Vec<(usize, usize)>,
    pub fields: Vec<FieldSpec>,
    pub apparent: ApparentMode,
    /// channels read from the meter
    pub from_meter: [bool; NCH],
    /// channels the pipeline produces (read or derived)
    pub available: [bool; NCH],
    /// energy counters: the raw counter's wrap span in kWh, where it is a plain integer register
    pub counter_modulus: [Option<f64>; NCH],
    /// active (and reactive) energies come from meter counters rather than integration
    pub meter_energy: bool,
    pub meter_reactive_energy: bool,
}

impl CompiledProfile {
    /// Check the layout and work out what the pipeline can produce.
    /// `apparent`: None picks arithmetic where per-phase S exists, else the meter's, else vector.
    pub fn new(
        frame_length: usize,
        blocks: Vec<(usize, usize)>,
        fields: Vec<FieldSpec>,
        apparent: Option<ApparentMode>,
    ) -> Result<Self> {
        let mut next = 0usize;
        for (i, &(off, count)) in blocks.iter().enumerate() {
            if off != next || count == 0 {
                return Err(input_err!(
                    "block {i} covers frame offsets {off}..{}, expected it to start at {next} and be non-empty",
                    off + count
                ));
            }
            next = off + count;
        }
        if blocks.len() > 64 {
            return Err(input_err!(
                "{} read blocks; at most 64 are supported",
                blocks.len()
            ));
        }
        if next != frame_length {
            return Err(input_err!(
                "blocks cover {next} registers but the frame has {frame_length}"
            ));
        }
        let mut from_meter = [false; NCH];
        for f in &fields {
            let name = channel::NAMES.get(f.channel).copied().unwrap_or("?");
            if f.channel >= NCH || DERIVED_ONLY.contains(&f.channel) {
                return Err(input_err!(
                    "field for {name} (slot {}) cannot be read from a meter",
                    f.channel
                ));
            }
            let end = f.offset + f.words();
            if end > frame_length {
                return Err(input_err!(
                    "field {name} ({} at frame offset {}, {} registers) lies outside the frame of {frame_length} registers",
                    f.dtype.name(),
                    f.offset,
                    f.words()
                ));
            }
            let Some(&(boff, bcount)) = blocks.get(f.block) else {
                return Err(input_err!(
                    "field {name} names block {} but there are {}",
                    f.block,
                    blocks.len()
                ));
            };
            if f.offset < boff || end > boff + bcount {
                return Err(input_err!(
                    "field {name} (frame offsets {}..{end}) lies outside its block {} (offsets {boff}..{})",
                    f.offset,
                    f.block,
                    boff + bcount
                ));
            }
            if let Some(sfo) = f.sf_offset {
                if sfo >= frame_length {
                    return Err(input_err!(
                        "field {name}: scale factor register at frame offset {sfo} lies outside the frame of {frame_length} registers"
                    ));
                }
            }
            if !f.scale.is_finite() || f.scale == 0.0 {
                return Err(input_err!(
                    "field {name}: scale must be finite and non-zero, got {}",
                    f.scale
                ));
            }
            if f.min.is_nan() || f.max.is_nan() || f.min > f.max {
                return Err(input_err!(
                    "field {name}: range {}..{} is empty",
                    f.min,
                    f.max
                ));
            }
            from_meter[f.channel] = true;
        }
        // no register may belong to two fields
        let mut spans: Vec<(usize, usize, usize)> = fields
            .iter()
            .map(|f| (f.offset, f.offset + f.words(), f.channel))
            .collect();
        spans.sort();
        for w in spans.windows(2) {
            if w[1].0 < w[0].1 {
                return Err(input_err!(
                    "fields {} (frame offsets {}..{}) and {} (offsets {}..{}) overlap",
                    channel::NAMES[w[0].2],
                    w[0].0,
                    w[0].1,
                    channel::NAMES[w[1].2],
                    w[1].0,
                    w[1].1
                ));
            }
        }
        let mut counter_modulus = [None; NCH];
        for ch in [
            channel::E_IMP,
            channel::E_EXP,
            channel::RE_IMP,
            channel::RE_EXP,
        ] {
            let mut fs = fields.iter().filter(|f| f.channel == ch);
            if let (Some(f), None) = (fs.next(), fs.next()) {
                if !f.dtype.is_float() && f.sf_offset.is_none() {
                    counter_modulus[ch] = Some(2f64.powi(f.dtype.bits() as i32) * f.scale.abs());
                }
            }
        }
        let mut p = CompiledProfile {
            frame_length,
            blocks,
            fields,
            apparent: ApparentMode::Vector,
            from_meter,
            available: [false; NCH],
            counter_modulus,
            meter_energy: from_meter[channel::E_IMP] && from_meter[channel::E_EXP],
            meter_reactive_energy: from_meter[channel::RE_IMP] && from_meter[channel::RE_EXP],
        };
        p.resolve_available(apparent);
        Ok(p)
    }

    /// For each channel, the read blocks its value depends on (bit i = block i), following the
    /// same derivations as the pipeline; with `invert` the import and export counters come from
    /// each other's registers.
    pub fn channel_blocks(&self, invert: bool) -> [u64; NCH] {
        use channel::*;
        let m = &self.from_meter;
        let mut b = [0u64; NCH];
        for f in &self.fields {
            b[f.channel] |= 1 << f.block;
        }
        let any = |b: &[u64; NCH], chans: &[usize]| chans.iter().fold(0u64, |acc, &c| acc | b[c]);
        if invert {
            b.swap(E_IMP, E_EXP);
            b.swap(RE_IMP, RE_EXP);
        }
        if !m[P] {
            b[P] = any(&b, &P_L);
        }
        if !m[Q] {
            b[Q] = any(&b, &Q_L);
        }
        for i in 0..3 {
            if !m[S_L[i]] {
                b[S_L[i]] = b[P_L[i]] | b[Q_L[i]];
            }
        }
        b[S] = match self.apparent {
            ApparentMode::Arithmetic => any(&b, &S_L),
            ApparentMode::Vector => b[P] | b[Q],
            ApparentMode::Meter => b[S],
        };
        for (pf, pc, sc) in [
            (PF_L[0], P_L[0], S_L[0]),
            (PF_L[1], P_L[1], S_L[1]),
            (PF_L[2], P_L[2], S_L[2]),
            (PF, P, S),
        ] {
            let s_part = if self.available[sc] { b[sc] } else { b[pf] };
            b[pf] = b[pc] | s_part;
        }
        if !m[ROCOF] {
            b[ROCOF] = b[FREQ];
        }
        if !self.meter_energy {
            b[E_IMP] = b[P];
            b[E_EXP] = b[P];
        }
        if !self.meter_reactive_energy {
            b[RE_IMP] = b[Q];
            b[RE_EXP] = b[Q];
        }
        b[E_NET] = b[E_IMP] | b[E_EXP];
        b[IMBALANCE] = any(&b, &P_L);
        b
    }

    fn resolve_available(&mut self, requested: Option<ApparentMode>) {
        use channel::*;
        let m = self.from_meter;
        let mut a = m;
        let phases: Vec<usize> = (0..3).filter(|&i| m[P_L[i]]).collect();
        a[P] = m[P] || !phases.is_empty();
        a[Q] = m[Q] || (0..3).any(|i| m[Q_L[i]]);
        for i in 0..3 {
            a[S_L[i]] = m[S_L[i]] || (m[P_L[i]] && m[Q_L[i]]);
        }
        let arithmetic_ok = !phases.is_empty() && phases.iter().all(|&i| a[S_L[i]]);
        let vector_ok = a[P] && a[Q];
        self.apparent = match requested {
            Some(ApparentMode::Arithmetic) if arithmetic_ok => ApparentMode::Arithmetic,
            Some(ApparentMode::Meter) if m[S] => ApparentMode::Meter,
            Some(ApparentMode::Vector) if vector_ok => ApparentMode::Vector,
            _ if arithmetic_ok => ApparentMode::Arithmetic,
            _ if m[S] => ApparentMode::Meter,
            _ => ApparentMode::Vector,
        };
        a[S] = match self.apparent {
            ApparentMode::Arithmetic => arithmetic_ok,
            ApparentMode::Meter => m[S],
            ApparentMode::Vector => vector_ok,
        };
        for i in 0..3 {
            a[PF_L[i]] = m[P_L[i]] && (a[S_L[i]] || m[PF_L[i]]);
        }
        a[PF] = a[P] && (a[S] || m[PF]);
        a[ROCOF] = m[ROCOF] || m[FREQ];
        a[E_IMP] = self.meter_energy || a[P];
        a[E_EXP] = a[E_IMP];
        a[RE_IMP] = self.meter_reactive_energy || a[Q];
        a[RE_EXP] = a[RE_IMP];
        a[E_NET] = a[E_IMP];
        a[IMBALANCE] = phases.len() >= 2;
        self.available = a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::index;

    fn field(name: &str, offset: usize, block: usize) -> FieldSpec {
        FieldSpec::new(
            index(name).unwrap(),
            offset,
            DType::F32,
            WordOrder::Abcd,
            1.0,
            None,
            vec![],
            false,
            false,
            f64::NEG_INFINITY,
            f64::INFINITY,
            block,
        )
    }

    #[test]
    fn layout_errors_name_the_field() {
        let e = CompiledProfile::new(4, vec![(0, 4)], vec![field("ActivePower_L1", 3, 0)], None)
            .unwrap_err();
        assert!(
            e.to_string().contains("ActivePower_L1") && e.to_string().contains("outside the frame")
        );
        let e = CompiledProfile::new(
            4,
            vec![(0, 4)],
            vec![field("Voltage_L1", 0, 0), field("Current_L1", 1, 0)],
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("overlap"), "{e}");
        let e = CompiledProfile::new(
            4,
            vec![(0, 2), (2, 2)],
            vec![field("Voltage_L1", 1, 0)],
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("outside its block"), "{e}");
        assert!(CompiledProfile::new(4, vec![(0, 3)], vec![], None).is_err());
    }

    #[test]
    fn column_reads_equal_frame_reads() {
        // pseudo-random frames, including NaN/Inf patterns and sentinel values
        let mut bits = crate::test_rng::bits(0x9E37_79B9_7F4A_7C15);
        let mut next = || bits() as u16;
        let fl = 8;
        let mut frames: Vec<u16> = (0..fl * 500).map(|_| next()).collect();
        frames[0] = 0x7F80; // +inf in the first float
        frames[fl] = 0x7FC0; // NaN
        let mk =
            |dtype, order, scale, sentinels: Vec<Sentinel>, negate, abs, min: f64, max: f64| {
                FieldSpec::new(
                    index("Voltage_L1").unwrap(),
                    2,
                    dtype,
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
        let specs = [
            mk(
                DType::F32,
                WordOrder::Abcd,
                1.0,
                vec![],
                false,
                false,
                f64::NEG_INFINITY,
                f64::INFINITY,
            ),
            mk(
                DType::F32,
                WordOrder::Abcd,
                2.5,
                vec![],
                true,
                true,
                -1e6,
                1e6,
            ),
            mk(
                DType::F32,
                WordOrder::Abcd,
                1.0,
                vec![],
                false,
                false,
                0.0,
                f64::INFINITY,
            ),
            mk(
                DType::F32,
                WordOrder::Cdab,
                1.0,
                vec![],
                false,
                false,
                f64::NEG_INFINITY,
                f64::INFINITY,
            ),
            mk(
                DType::I32,
                WordOrder::Cdab,
                0.1,
                vec![Sentinel::Min],
                false,
                false,
                f64::NEG_INFINITY,
                f64::INFINITY,
            ),
            mk(
                DType::I16,
                WordOrder::Abcd,
                1.0,
                vec![Sentinel::Max],
                true,
                false,
                -100.0,
                100.0,
            ),
        ];
        for f in &specs {
            let mut col = vec![0.0; 500];
            f.read_column(&frames, fl, &mut col);
            for (j, fr) in frames.chunks_exact(fl).enumerate() {
                let want = f.read(fr);
                assert!(
                    want.to_bits() == col[j].to_bits() || (want.is_nan() && col[j].is_nan()),
                    "{f:?} frame {j}"
                );
            }
        }
    }

    #[test]
    fn float32_columns_equal_frame_reads_in_every_layout_and_instruction_set() {
        let mut bits = crate::test_rng::bits(0x2545_F491_4F6C_DD1D);
        let mut next = || bits() as u16;
        let fl = 7;
        let mut frames: Vec<u16> = (0..fl * 300).map(|_| next()).collect();
        // infinities and NaN in every word order, and small exponents (in range) so that the
        // range check is exercised both ways
        for (j, pat) in [[0x7F80, 0], [0, 0x7F80], [0x807F, 0], [0xFFC0, 0x0001]]
            .iter()
            .enumerate()
        {
            frames[j * fl + 3] = pat[0];
            frames[j * fl + 4] = pat[1];
        }
        for j in 10..150 {
            frames[j * fl + 3] = 0x4120 + (j as u16 % 7); // ~10.0
        }
        let mut checked = 0;
        for order in [
            WordOrder::Abcd,
            WordOrder::Cdab,
            WordOrder::Badc,
            WordOrder::Dcba,
        ] {
            for (abs, negate) in [(false, false), (true, false), (false, true), (true, true)] {
                for (scale, min, max) in
                    [(1.0, -12.0, 12.0), (2.5, f64::NEG_INFINITY, f64::INFINITY)]
                {
                    let f = FieldSpec::new(
                        index("Voltage_L1").unwrap(),
                        3,
                        DType::F32,
                        order,
                        scale,
                        None,
                        vec![],
                        negate,
                        abs,
                        min,
                        max,
                        0,
                    );
                    for level in [Level::Baseline, Level::Avx2, Level::Avx512] {
                        if level > crate::simd::level() {
                            continue;
                        }
                        let mut col = vec![0.0; 300];
                        f.f32_column(level, &frames, fl, &mut col);
                        for (j, fr) in frames.chunks_exact(fl).enumerate() {
                            let want = f.read(fr);
                            assert!(
                                want.to_bits() == col[j].to_bits()
                                    || (want.is_nan() && col[j].is_nan()),
                                "{f:?} {level:?} frame {j}: {} vs {want}",
                                col[j]
                            );
                        }
                        checked += col.iter().filter(|v| v.is_finite()).count();
                    }
                }
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn decimal_scales_divide_exactly() {
        let mut f = field("Voltage_L1", 0, 0);
        f = FieldSpec::new(
            f.channel,
            0,
            DType::I32,
            WordOrder::Cdab,
            0.1,
            None,
            vec![],
            false,
            false,
            0.0,
            1e9,
            0,
        );
        assert_eq!(f.read(&[12345, 0]), 1234.5);
        assert_eq!(f.read(&[2300, 0]), 230.0);
    }

    #[test]
    fn availability_follows_sources() {
        let p = CompiledProfile::new(
            6,
            vec![(0, 6)],
            vec![
                field("ActivePower_L1", 0, 0),
                field("ReactivePower_L1", 2, 0),
                field("Frequency", 4, 0),
            ],
            None,
        )
        .unwrap();
        let a = |n: &str| p.available[index(n).unwrap()];
        assert!(
            a("ActivePower") && a("ApparentPower_L1") && a("ApparentPower") && a("PowerFactor_L1")
        );
        assert!(
            a("Frequency_RoCoF")
                && a("EnergyImport")
                && a("ReactiveEnergyExport")
                && a("EnergyNet")
        );
        assert!(!a("ActivePower_L2") && !a("PhaseImbalance") && !a("Voltage_L1"));
        assert_eq!(p.apparent, ApparentMode::Arithmetic);
    }
}
