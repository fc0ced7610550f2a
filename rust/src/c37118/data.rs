//! Data frames: per PMU, in configuration order, STAT, PHASORS, FREQ, DFREQ, ANALOG, DIGITAL, in
//! the PMU's FORMAT.
//!
//! Decoding turns every field into engineering units: phasors in V/A (integer ones × PHUNIT or the
//! CFG-3 scale and angle offset, float ones × the CFG-3 scale and angle offset only, as PHUNIT is
//! for integers; polar angles in 10^-4 rad), FREQ absolute in Hz in every format
//! (an integer FREQ is the deviation from FNOM in mHz, a float FREQ is already absolute: reading
//! it as a deviation is a public parser's defect), DFREQ in Hz/s (an integer one is × 100).
//! Absent data (0x8000 in a 16-bit field, NaN in a float) becomes NaN, never a number.

use super::common::{be16, be32};
use super::config::{Config, PhasorScale, PmuConfig, PmuLayout};
use crate::{Error, Result};

/// 0x8000: absent data in every 16-bit field.
pub const ABSENT: u16 = 0x8000;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub struct Phasor {
    pub re: f64,
    pub im: f64,
}

impl Phasor {
    pub const NAN: Phasor = Phasor {
        re: f64::NAN,
        im: f64::NAN,
    };

    pub fn new(re: f64, im: f64) -> Phasor {
        Phasor { re, im }
    }
}

/// STAT, FREQ and DFREQ of one PMU block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PmuScalars {
    pub stat: u16,
    pub freq: f64,
    pub rocof: f64,
}

#[inline]
fn f32_at(b: &[u8], at: usize) -> f64 {
    f32::from_bits(be32(b, at)) as f64
}

#[inline]
fn i16_or_nan(raw: u16) -> f64 {
    if raw == ABSENT {
        f64::NAN
    } else {
        raw as i16 as f64
    }
}

/// Decode one PMU block (`b` is exactly `pmu.data_size()` bytes) into the given slices, which
/// hold exactly the PMU's phasors, analogs and digital words.
#[inline]
pub(crate) fn decode_block(
    b: &[u8],
    pmu: &PmuConfig,
    lay: &PmuLayout,
    phasors: &mut [Phasor],
    analogs: &mut [f64],
    digitals: &mut [u16],
) -> PmuScalars {
    let f = pmu.format;
    let stat = be16(b, 0);
    let mut at = 2;
    if f.phasors_float() {
        for (out, sc) in phasors.iter_mut().zip(&lay.scales) {
            let x = f32_at(b, at);
            let y = f32_at(b, at + 4);
            at += 8;
            let p = if x.is_nan() || y.is_nan() {
                Phasor::NAN
            } else if f.polar() {
                let (s, c) = y.sin_cos();
                Phasor::new(x * c, x * s)
            } else {
                Phasor::new(x, y)
            };
            // CFG-3: Y·X at the angle + θ (both 1 and 0 for floats sent scaled already)
            *out = if lay.float_scaled { rotate(p, sc) } else { p };
        }
    } else {
        for (out, sc) in phasors.iter_mut().zip(&lay.scales) {
            let x = be16(b, at);
            let y = be16(b, at + 2);
            at += 4;
            *out = if x == ABSENT || y == ABSENT {
                Phasor::NAN
            } else if f.polar() {
                // magnitude unsigned, angle signed in 10^-4 rad (Wireshark, pypmu)
                let mag = x as f64 * sc.scale;
                let (s, c) = (y as i16 as f64 * 1e-4 + sc.offset).sin_cos();
                Phasor::new(mag * c, mag * s)
            } else {
                let (re, im) = (x as i16 as f64, y as i16 as f64);
                if lay.rotated {
                    rotate(Phasor::new(re, im), sc)
                } else {
                    Phasor::new(re * sc.scale, im * sc.scale)
                }
            };
        }
    }
    let (freq, rocof) = if f.freq_float() {
        let r = (f32_at(b, at), f32_at(b, at + 4));
        at += 8;
        r
    } else {
        let (df, dr) = (be16(b, at), be16(b, at + 2));
        at += 4;
        (
            pmu.fnom as f64 + i16_or_nan(df) / 1000.0,
            i16_or_nan(dr) / 100.0,
        )
    };
    if f.analogs_float() {
        for out in analogs.iter_mut() {
            *out = f32_at(b, at);
            at += 4;
        }
    } else {
        for out in analogs.iter_mut() {
            *out = i16_or_nan(be16(b, at));
            at += 2;
        }
    }
    for out in digitals.iter_mut() {
        *out = be16(b, at);
        at += 2;
    }
    debug_assert_eq!(at, b.len());
    PmuScalars { stat, freq, rocof }
}

/// A data frame's values, flattened over its PMUs in configuration order (the configuration's
/// layout says which slice belongs to which PMU).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataValues {
    pub pmus: Vec<PmuScalars>,
    pub phasors: Vec<Phasor>,
    pub analogs: Vec<f64>,
    pub digitals: Vec<u16>,
}

/// Decode a whole data frame; its length must be `cfg.data_frame_size()`.
pub fn decode_data(frame: &[u8], cfg: &Config) -> DataValues {
    debug_assert_eq!(frame.len(), cfg.data_frame_size());
    let mut v = DataValues {
        pmus: Vec::with_capacity(cfg.pmus().len()),
        phasors: vec![Phasor::default(); cfg.n_phasors()],
        analogs: vec![0.0; cfg.n_analogs()],
        digitals: vec![0; cfg.n_digitals()],
    };
    for (pmu, lay) in cfg.pmus().iter().zip(cfg.layouts()) {
        let block = &frame[lay.block_offset..lay.block_offset + lay.block_size];
        let ph = &mut v.phasors[lay.phasor_start..lay.phasor_start + pmu.phasors.len()];
        let an = &mut v.analogs[lay.analog_start..lay.analog_start + pmu.analogs.len()];
        let dg = &mut v.digitals[lay.digital_start..lay.digital_start + pmu.digital_words()];
        v.pmus.push(decode_block(block, pmu, lay, ph, an, dg));
    }
    v
}

/// One PMU's values to encode.
#[derive(Clone, Copy, Debug)]
pub struct PmuSample<'a> {
    pub stat: u16,
    pub freq: f64,
    pub rocof: f64,
    pub phasors: &'a [Phasor],
    pub analogs: &'a [f64],
    pub digitals: &'a [u16],
}

/// A 16-bit signed field: NaN is absent data; anything else must round into ±32767.
fn int16(v: f64, who: &str, what: &str) -> Result<u16> {
    if v.is_nan() {
        return Ok(ABSENT);
    }
    let r = v.round();
    if !(-32767.0..=32767.0).contains(&r) {
        return Err(Error::Input(format!(
            "{who}: {what} = {v} counts does not fit a 16-bit field (-32767..32767; 0x8000 marks absent data)"
        )));
    }
    Ok(r as i16 as u16)
}

fn uint16_magnitude(v: f64, who: &str, what: &str) -> Result<u16> {
    let r = v.round();
    if !(0.0..=65535.0).contains(&r) || r == 32768.0 {
        return Err(Error::Input(format!(
            "{who}: {what} magnitude = {v} counts does not fit a 16-bit polar magnitude (0..65535 except 32768 = 0x8000, absent data)"
        )));
    }
    Ok(r as u16)
}

fn put_f32(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&(v as f32).to_be_bytes());
}

/// The raw phasor that `sc` (Y·e^{iθ}) turns into `p`.
/// Y·X at the angle + θ: the CFG-3 scaling of a phasor (`unrotate` undoes it).
#[inline(always)]
fn rotate(p: Phasor, sc: &PhasorScale) -> Phasor {
    Phasor::new(p.re * sc.c - p.im * sc.s, p.re * sc.s + p.im * sc.c)
}

fn unrotate(p: &Phasor, sc: &PhasorScale) -> Phasor {
    let d = sc.c * sc.c + sc.s * sc.s;
    Phasor::new(
        (p.re * sc.c + p.im * sc.s) / d,
        (p.im * sc.c - p.re * sc.s) / d,
    )
}

pub(crate) fn encode_block(
    out: &mut Vec<u8>,
    pmu: &PmuConfig,
    lay: &PmuLayout,
    s: &PmuSample,
) -> Result<()> {
    let who = format!("PMU {:?} (IDCODE {})", pmu.station, pmu.idcode);
    let counts = [
        (s.phasors.len(), pmu.phasors.len(), "phasors"),
        (s.analogs.len(), pmu.analogs.len(), "analogs"),
        (s.digitals.len(), pmu.digital_words(), "digital words"),
    ];
    for (got, want, what) in counts {
        if got != want {
            return Err(Error::Input(format!(
                "{who}: {got} {what} given, the configuration has {want}"
            )));
        }
    }
    let f = pmu.format;
    out.extend_from_slice(&s.stat.to_be_bytes());
    for ((p, sc), ch) in s.phasors.iter().zip(&lay.scales).zip(&pmu.phasors) {
        let absent = p.re.is_nan() || p.im.is_nan();
        if f.phasors_float() {
            let p = if lay.float_scaled && !absent {
                unrotate(p, sc)
            } else {
                *p
            };
            let (x, y) = if absent {
                (f64::NAN, f64::NAN)
            } else if f.polar() {
                (p.re.hypot(p.im), p.im.atan2(p.re))
            } else {
                (p.re, p.im)
            };
            put_f32(out, x);
            put_f32(out, y);
            continue;
        }
        let what = format!("phasor {:?}", ch.name);
        let (x, y) = if absent {
            (ABSENT, ABSENT)
        } else if f.polar() {
            let mag = p.re.hypot(p.im) / sc.scale;
            let mut ang = p.im.atan2(p.re) - sc.offset;
            ang -= std::f64::consts::TAU * (ang / std::f64::consts::TAU).round();
            (
                uint16_magnitude(mag, &who, &what)?,
                int16(ang * 1e4, &who, &what)?,
            )
        } else {
            let Phasor { re, im } = unrotate(p, sc);
            if !(re.is_finite() && im.is_finite()) {
                return Err(Error::Input(format!(
                    "{who}: {what} = ({}, {}) cannot be sent as integers with scale {}",
                    p.re, p.im, sc.scale
                )));
            }
            (int16(re, &who, &what)?, int16(im, &who, &what)?)
        };
        out.extend_from_slice(&x.to_be_bytes());
        out.extend_from_slice(&y.to_be_bytes());
    }
    if f.freq_float() {
        put_f32(out, s.freq);
        put_f32(out, s.rocof);
    } else {
        let df = int16(
            (s.freq - pmu.fnom as f64) * 1000.0,
            &who,
            "FREQ deviation (mHz)",
        )?;
        let dr = int16(s.rocof * 100.0, &who, "DFREQ (Hz/s × 100)")?;
        out.extend_from_slice(&df.to_be_bytes());
        out.extend_from_slice(&dr.to_be_bytes());
    }
    for (a, ch) in s.analogs.iter().zip(&pmu.analogs) {
        if f.analogs_float() {
            put_f32(out, *a);
        } else {
            let raw = int16(*a, &who, &format!("analog {:?}", ch.name))?;
            out.extend_from_slice(&raw.to_be_bytes());
        }
    }
    for d in s.digitals {
        out.extend_from_slice(&d.to_be_bytes());
    }
    Ok(())
}

/// Append the PMU blocks of a data frame (between header and CHK).
pub(crate) fn encode_blocks(out: &mut Vec<u8>, cfg: &Config, samples: &[PmuSample]) -> Result<()> {
    if samples.len() != cfg.pmus().len() {
        return Err(Error::Input(format!(
            "stream {}: {} PMU values given, the configuration has {} PMUs",
            cfg.idcode(),
            samples.len(),
            cfg.pmus().len()
        )));
    }
    for ((pmu, lay), s) in cfg.pmus().iter().zip(cfg.layouts()).zip(samples) {
        encode_block(out, pmu, lay, s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::config::tests::pmu;
    use super::*;

    fn encode_decode(cfg: &Config, s: &PmuSample) -> (PmuScalars, Vec<Phasor>, Vec<f64>, Vec<u16>) {
        let mut body = vec![0u8; 14];
        encode_blocks(&mut body, cfg, std::slice::from_ref(s)).unwrap();
        body.extend_from_slice(&[0, 0]);
        let v = decode_data(&body, cfg);
        (v.pmus[0], v.phasors, v.analogs, v.digitals)
    }

    #[test]
    fn every_format_round_trips() {
        for format in 0..16u16 {
            let cfg = Config::new(1, 1_000_000, 50, vec![pmu(format, 2, 2, 1)]).unwrap();
            let phasors = [Phasor::new(230.0, -115.0), Phasor::new(-0.5, 2.25)];
            let s = PmuSample {
                stat: 0x8421,
                freq: 59.987,
                rocof: -0.25,
                phasors: &phasors,
                analogs: &[12.0, -7.0],
                digitals: &[0xA5A5],
            };
            let (sc, ph, an, dg) = encode_decode(&cfg, &s);
            assert_eq!(sc.stat, 0x8421);
            let tol = if format & 8 != 0 { 1e-5 } else { 5e-4 };
            assert!(
                (sc.freq - 59.987).abs() < tol,
                "format {format}: {}",
                sc.freq
            );
            assert!((sc.rocof + 0.25).abs() < 1e-6);
            for (a, b) in ph.iter().zip(&phasors) {
                // integer phasors: scale 0.01 V or 0.02 A per count
                assert!(
                    (a.re - b.re).abs() < 0.02 && (a.im - b.im).abs() < 0.02,
                    "format {format}: {a:?} vs {b:?}"
                );
            }
            assert_eq!(an, vec![12.0, -7.0]);
            assert_eq!(dg, vec![0xA5A5]);
        }
    }

    #[test]
    fn absent_data_is_nan_never_a_number() {
        for format in 0..16u16 {
            let cfg = Config::new(1, 1_000_000, 50, vec![pmu(format, 2, 1, 0)]).unwrap();
            let phasors = [Phasor::new(f64::NAN, 1.0), Phasor::new(1.0, 1.0)];
            let s = PmuSample {
                stat: 0,
                freq: f64::NAN,
                rocof: f64::NAN,
                phasors: &phasors,
                analogs: &[f64::NAN],
                digitals: &[],
            };
            let (sc, ph, an, _) = encode_decode(&cfg, &s);
            assert!(sc.freq.is_nan() && sc.rocof.is_nan(), "format {format}");
            assert!(ph[0].re.is_nan() && ph[0].im.is_nan());
            assert!(!ph[1].re.is_nan());
            assert!(an[0].is_nan());
        }
    }

    #[test]
    fn integer_fields_refuse_values_they_cannot_hold() {
        let cfg = Config::new(1, 1_000_000, 50, vec![pmu(0, 1, 1, 0)]).unwrap();
        let too_big = [Phasor::new(400.0, 0.0)]; // 40000 counts of 0.01 V
        let s = PmuSample {
            stat: 0,
            freq: 60.0,
            rocof: 0.0,
            phasors: &too_big,
            analogs: &[0.0],
            digitals: &[],
        };
        let mut out = Vec::new();
        let err = encode_blocks(&mut out, &cfg, &[s]).unwrap_err().to_string();
        assert!(err.contains("PH0") && err.contains("16-bit"), "{err}");
        let s = PmuSample {
            freq: 100.0,
            phasors: &[Phasor::new(1.0, 0.0)],
            ..s
        };
        assert!(encode_blocks(&mut Vec::new(), &cfg, &[s]).is_err());
        let s = PmuSample {
            freq: 60.0,
            analogs: &[-32768.0],
            ..s
        };
        assert!(encode_blocks(&mut Vec::new(), &cfg, &[s]).is_err());
    }

    #[test]
    fn cfg3_angle_offset_rotates_integer_phasors() {
        let mut p = pmu(0, 1, 0, 0);
        p.phasors[0].angle_offset = std::f64::consts::FRAC_PI_2;
        p.phasors[0].scale = 0.5;
        let cfg = Config::new(1, 1_000_000, 50, vec![p]).unwrap();
        // raw (100, 0) × 0.5 rotated by +90° = (0, 50)
        let mut frame = vec![0u8; 14];
        frame.extend_from_slice(&[0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0]);
        let v = decode_data(&frame, &cfg);
        assert!(v.phasors[0].re.abs() < 1e-12 && (v.phasors[0].im - 50.0).abs() < 1e-12);
    }
}
