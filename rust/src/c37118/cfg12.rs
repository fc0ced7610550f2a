//! CFG-1 and CFG-2 bodies (the bytes between the common header and CHK): TIME_BASE, NUM_PMU, per
//! PMU STN, IDCODE, FORMAT, PHNMR, ANNMR, DGNMR, 16-byte channel names, PHUNIT, ANUNIT, DIGUNIT,
//! FNOM, CFGCNT; then DATA_RATE. Field order and widths checked against the Wireshark dissector
//! (packet-synphasor.c) and pypmu's frame.py.

use super::config::{
    AnalogChannel, Cfg3Extras, Config, Format, PhasorChannel, PhasorUnit, PmuConfig,
};
use super::cursor::Cursor;
use super::writer::{put16, put32};
use crate::{Error, Result};

const NAME_LEN: usize = 16;

/// A fixed 16-byte name: padding (spaces or NULs) at the end is not part of it.
fn read_name(c: &mut Cursor) -> Result<String> {
    let raw = c.take(NAME_LEN)?;
    let end = raw
        .iter()
        .rposition(|&b| b != b' ' && b != 0)
        .map_or(0, |i| i + 1);
    Ok(String::from_utf8_lossy(&raw[..end]).into_owned())
}

fn write_name(out: &mut Vec<u8>, name: &str, what: &str) -> Result<()> {
    let b = name.as_bytes();
    if b.len() > NAME_LEN {
        return Err(Error::Input(format!(
            "{what} {name:?} is {} bytes; CFG-1/2 names hold at most 16",
            b.len()
        )));
    }
    out.extend_from_slice(b);
    out.extend(std::iter::repeat_n(b' ', NAME_LEN - b.len()));
    Ok(())
}

pub fn parse(body: &[u8], idcode: u16) -> Result<Config> {
    let mut c = Cursor::new(body, "CFG-1/2 frame");
    let time_base = c.u32()? & 0x00FF_FFFF;
    let num_pmu = c.u16()?;
    let mut pmus = Vec::with_capacity(num_pmu.min(1024) as usize);
    for _ in 0..num_pmu {
        let station = read_name(&mut c)?;
        let pmu_id = c.u16()?;
        let format = Format(c.u16()?);
        let nph = c.u16()? as usize;
        let nan = c.u16()? as usize;
        let ndg = c.u16()? as usize;
        // every count is checked against the bytes left before anything is allocated for it
        let names_len = NAME_LEN * (nph + nan + 16 * ndg);
        if c.remaining() < names_len + 4 * (nph + nan + ndg) + 4 {
            return Err(Error::Input(format!(
                "CFG-1/2 frame: PMU {pmu_id} claims {nph} phasors, {nan} analogs, {ndg} digital words; the frame is too short"
            )));
        }
        let mut ph_names = Vec::with_capacity(nph);
        for _ in 0..nph {
            ph_names.push(read_name(&mut c)?);
        }
        let mut an_names = Vec::with_capacity(nan);
        for _ in 0..nan {
            an_names.push(read_name(&mut c)?);
        }
        let mut digital_names = Vec::with_capacity(16 * ndg);
        for _ in 0..16 * ndg {
            digital_names.push(read_name(&mut c)?);
        }
        let mut phasors = Vec::with_capacity(nph);
        for name in ph_names {
            let w = c.u32()?;
            phasors.push(PhasorChannel {
                name,
                // 0 = voltage, 1 = current; like Wireshark, any non-zero type byte is a current
                unit: if w >> 24 == 0 {
                    PhasorUnit::Voltage
                } else {
                    PhasorUnit::Current
                },
                scale: (w & 0x00FF_FFFF) as f64 / 1e5,
                component: None,
                angle_offset: 0.0,
                flags: 0,
            });
        }
        let mut analogs = Vec::with_capacity(nan);
        for name in an_names {
            let w = c.u32()?;
            // the low 24 bits are a signed, user-defined scale
            let scale = (((w << 8) as i32) >> 8) as f64;
            analogs.push(AnalogChannel {
                name,
                kind: (w >> 24) as u8,
                scale,
                offset: 0.0,
            });
        }
        let mut digital_masks = Vec::with_capacity(ndg);
        for _ in 0..ndg {
            let w = c.u32()?;
            digital_masks.push(((w >> 16) as u16, w as u16));
        }
        let fnom = if c.u16()? & 1 != 0 { 50 } else { 60 };
        let cfgcnt = c.u16()?;
        pmus.push(PmuConfig {
            station,
            idcode: pmu_id,
            format,
            phasors,
            analogs,
            digital_names,
            digital_masks,
            fnom,
            cfgcnt,
            extras: Cfg3Extras::default(),
        });
    }
    let data_rate = c.i16()?;
    c.finish()?;
    Config::new(idcode, time_base, data_rate, pmus)
}

/// PHUNIT's 24-bit count of 10^-5 V or A for `scale`; integer phasors need it exact.
fn phunit(p: &PhasorChannel, integer: bool, who: &str) -> Result<u32> {
    let units = (p.scale * 1e5).round();
    if integer {
        let exact = (units / 1e5 - p.scale).abs() <= 1e-9 * p.scale.abs().max(1e-5);
        if !(exact && (1.0..=16_777_215.0).contains(&units)) {
            return Err(Error::Input(format!(
                "{who}: phasor {:?} scale {} V/A per count is not a PHUNIT (a whole number 1..2^24-1 of 10^-5); use CFG-3 or another scale",
                p.name, p.scale
            )));
        }
        if p.angle_offset != 0.0 {
            return Err(Error::Input(format!(
                "{who}: phasor {:?} has an angle offset, which only CFG-3 can carry",
                p.name
            )));
        }
    }
    Ok(units.clamp(0.0, 16_777_215.0) as u32)
}

pub fn write(out: &mut Vec<u8>, cfg: &Config) -> Result<()> {
    put32(out, cfg.time_base());
    put16(out, cfg.pmus().len() as u16);
    for p in cfg.pmus() {
        let who = format!("PMU {:?} (IDCODE {})", p.station, p.idcode);
        write_name(out, &p.station, &format!("{who}: station name"))?;
        put16(out, p.idcode);
        put16(out, p.format.0);
        put16(out, p.phasors.len() as u16);
        put16(out, p.analogs.len() as u16);
        put16(out, p.digital_words() as u16);
        for ph in &p.phasors {
            write_name(out, &ph.name, &format!("{who}: phasor name"))?;
        }
        for a in &p.analogs {
            write_name(out, &a.name, &format!("{who}: analog name"))?;
        }
        for d in &p.digital_names {
            write_name(out, d, &format!("{who}: digital name"))?;
        }
        let integer = !p.format.phasors_float();
        for ph in &p.phasors {
            if !integer && cfg.phscale() && (ph.scale != 1.0 || ph.angle_offset != 0.0) {
                return Err(Error::Input(format!(
                    "{who}: float phasor {:?} is scaled by CFG-3 PHSCALE (Y = {}, θ = {} rad), which \
                     CFG-1/2 cannot say (PHUNIT is for integer phasors only); send CFG-3",
                    ph.name, ph.scale, ph.angle_offset
                )));
            }
            let unit = match ph.unit {
                PhasorUnit::Voltage => 0u32,
                PhasorUnit::Current => 1u32,
            };
            put32(out, (unit << 24) | phunit(ph, integer, &who)?);
        }
        for a in &p.analogs {
            let ok = a.scale.fract() == 0.0 && (-8_388_608.0..=8_388_607.0).contains(&a.scale);
            if !ok || a.offset != 0.0 {
                return Err(Error::Input(format!(
                    "{who}: analog {:?} has scale {} and offset {}; CFG-1/2 carry a whole 24-bit scale and no offset (use CFG-3)",
                    a.name, a.scale, a.offset
                )));
            }
            put32(
                out,
                ((a.kind as u32) << 24) | (a.scale as i32 as u32 & 0x00FF_FFFF),
            );
        }
        for &(normal, valid) in &p.digital_masks {
            put32(out, ((normal as u32) << 16) | valid as u32);
        }
        put16(out, if p.fnom == 50 { 1 } else { 0 });
        put16(out, p.cfgcnt);
    }
    put16(out, cfg.data_rate() as u16);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::config::tests::pmu;
    use super::*;

    #[test]
    fn write_then_parse_keeps_everything_cfg2_carries() {
        let mut p = pmu(0x0004, 4, 3, 1);
        p.analogs[1].kind = 2;
        p.analogs[2].scale = -5.0;
        p.digital_masks[0] = (0x1234, 0xFF00);
        p.fnom = 50;
        p.cfgcnt = 22;
        let cfg = Config::new(7734, 1_000_000, -5, vec![p, pmu(0x000B, 2, 0, 0)]).unwrap();
        let mut body = Vec::new();
        write(&mut body, &cfg).unwrap();
        let back = parse(&body, 7734).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn truncated_or_padded_bodies_are_errors() {
        let cfg = Config::new(7734, 1_000_000, 30, vec![pmu(0, 2, 1, 1)]).unwrap();
        let mut body = Vec::new();
        write(&mut body, &cfg).unwrap();
        for n in 0..body.len() {
            assert!(parse(&body[..n], 7734).is_err(), "cut at {n}");
        }
        body.push(0);
        assert!(parse(&body, 7734).is_err());
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        // NUM_PMU 1, PHNMR 65535 in a 40-byte body
        let mut body = vec![0, 0x0F, 0x42, 0x40, 0, 1];
        body.extend_from_slice(&[b' '; 16]);
        body.extend_from_slice(&[0, 1, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0]);
        assert!(parse(&body, 1).is_err());
    }

    #[test]
    fn unrepresentable_scales_are_refused() {
        let mut p = pmu(0, 1, 0, 0);
        p.phasors[0].scale = 1.234567e-6;
        let cfg = Config::new(1, 1_000_000, 30, vec![p]).unwrap();
        assert!(write(&mut Vec::new(), &cfg).is_err());
        let mut p = pmu(0, 0, 1, 0);
        p.analogs[0].scale = 0.5;
        let cfg = Config::new(1, 1_000_000, 30, vec![p]).unwrap();
        assert!(write(&mut Vec::new(), &cfg).is_err());
        let mut p = pmu(0, 0, 0, 0);
        p.station = "a station name that is too long".into();
        let cfg = Config::new(1, 1_000_000, 30, vec![p]).unwrap();
        assert!(write(&mut Vec::new(), &cfg).is_err());
    }
}
