//! The CFG-3 body (C37.118.2-2011), after CONT_IDX and once its fragments are joined: TIME_BASE,
//! NUM_PMU, then per PMU: STN (length-prefixed), IDCODE, G_PMU_ID (16), FORMAT, PHNMR, ANNMR,
//! DGNMR, channel names (length-prefixed: phasors, analogs, 16 per digital word), PHSCALE (12 per
//! phasor: 16-bit modification flags, phasor type byte with bit 3 = current and bits 2-0 the
//! component, a user byte, f32 scale Y, f32 angle offset), ANSCALE (f32 M, f32 B), DIGUNIT,
//! PMU_LAT, PMU_LON, PMU_ELEV (f32), SVC_CLASS (1 char), WINDOW, GRP_DLY (i32 µs), FNOM,
//! CFGCNT; then DATA_RATE. Layout checked against the Kaitai description in PhasorToolBox
//! (cfg_3_station.ksy) and the field list in c37118.md.

use super::config::{
    AnalogChannel, Cfg3Extras, Component, Config, Format, PhasorChannel, PhasorUnit, PmuConfig,
};
use super::cursor::Cursor;
use super::writer::{put16, put32, put_f32};
use crate::{Error, Result};

fn read_name(c: &mut Cursor) -> Result<String> {
    let n = c.u8()? as usize;
    Ok(String::from_utf8_lossy(c.take(n)?).into_owned())
}

fn write_name(out: &mut Vec<u8>, name: &str, what: &str) -> Result<()> {
    let b = name.as_bytes();
    if b.len() > 255 {
        return Err(Error::Input(format!(
            "{what} {name:?} is {} bytes; CFG-3 names hold at most 255",
            b.len()
        )));
    }
    out.push(b.len() as u8);
    out.extend_from_slice(b);
    Ok(())
}

pub fn parse(body: &[u8], idcode: u16) -> Result<Config> {
    let mut c = Cursor::new(body, "CFG-3 frame");
    let time_base = c.u32()? & 0x00FF_FFFF;
    let num_pmu = c.u16()?;
    let mut pmus = Vec::with_capacity(num_pmu.min(1024) as usize);
    for _ in 0..num_pmu {
        let station = read_name(&mut c)?;
        let pmu_id = c.u16()?;
        let mut g_pmu_id = [0u8; 16];
        g_pmu_id.copy_from_slice(c.take(16)?);
        let format = Format(c.u16()?);
        let nph = c.u16()? as usize;
        let nan = c.u16()? as usize;
        let ndg = c.u16()? as usize;
        // names take at least a byte each, scales 12/8/4 bytes, then 25 fixed bytes and DATA_RATE:
        // refuse counts the bytes cannot hold before allocating for them
        if c.remaining() < (nph + nan + 16 * ndg) + 12 * nph + 8 * nan + 4 * ndg + 27 {
            return Err(Error::Input(format!(
                "CFG-3 frame: PMU {pmu_id} claims {nph} phasors, {nan} analogs, {ndg} digital words; the frame is too short"
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
            let flags = c.u16()?;
            let ptype = c.u8()?;
            let _user = c.u8()?;
            let scale = c.f32()? as f64;
            let angle_offset = c.f32()? as f64;
            phasors.push(PhasorChannel {
                name,
                unit: if ptype & 0x08 != 0 {
                    PhasorUnit::Current
                } else {
                    PhasorUnit::Voltage
                },
                scale,
                component: Component::from_code(ptype),
                angle_offset,
                flags,
            });
        }
        let mut analogs = Vec::with_capacity(nan);
        for name in an_names {
            let scale = c.f32()? as f64;
            let offset = c.f32()? as f64;
            analogs.push(AnalogChannel {
                name,
                kind: 1,
                scale,
                offset,
            });
        }
        let mut digital_masks = Vec::with_capacity(ndg);
        for _ in 0..ndg {
            let w = c.u32()?;
            digital_masks.push(((w >> 16) as u16, w as u16));
        }
        let latitude = c.f32()?;
        let longitude = c.f32()?;
        let elevation = c.f32()?;
        let service_class = c.u8()?;
        let window = c.i32()?;
        let group_delay = c.i32()?;
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
            extras: Cfg3Extras {
                g_pmu_id,
                latitude,
                longitude,
                elevation,
                service_class,
                window,
                group_delay,
            },
        });
    }
    let data_rate = c.i16()?;
    c.finish()?;
    Ok(Config::new(idcode, time_base, data_rate, pmus)?.with_phscale(true))
}

pub fn write(out: &mut Vec<u8>, cfg: &Config) -> Result<()> {
    put32(out, cfg.time_base());
    put16(out, cfg.pmus().len() as u16);
    for p in cfg.pmus() {
        let who = format!("PMU {:?} (IDCODE {})", p.station, p.idcode);
        write_name(out, &p.station, &format!("{who}: station name"))?;
        put16(out, p.idcode);
        out.extend_from_slice(&p.extras.g_pmu_id);
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
        // float phasors of a CFG-1/2-scaled configuration are sent in volts/amperes as they are:
        // "scaled already", which CFG-3 says with Y = 1 and θ = 0
        let as_sent = !cfg.phscale() && p.format.phasors_float();
        for ph in &p.phasors {
            put16(out, ph.flags);
            let current = if ph.unit == PhasorUnit::Current {
                0x08
            } else {
                0
            };
            out.push(current | Component::code(ph.component));
            out.push(0);
            let (y, theta) = if as_sent {
                (1.0, 0.0)
            } else {
                (ph.scale, ph.angle_offset)
            };
            put_f32(out, y as f32);
            put_f32(out, theta as f32);
        }
        for a in &p.analogs {
            put_f32(out, a.scale as f32);
            put_f32(out, a.offset as f32);
        }
        for &(normal, valid) in &p.digital_masks {
            put32(out, ((normal as u32) << 16) | valid as u32);
        }
        put_f32(out, p.extras.latitude);
        put_f32(out, p.extras.longitude);
        put_f32(out, p.extras.elevation);
        out.push(p.extras.service_class);
        put32(out, p.extras.window as u32);
        put32(out, p.extras.group_delay as u32);
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

    fn sample() -> Config {
        let mut p = pmu(0x0003, 3, 2, 1);
        p.phasors[0].component = Some(Component::A);
        p.phasors[1].component = Some(Component::Positive);
        p.phasors[1].angle_offset = 0.5;
        p.phasors[2].flags = 0x0102;
        p.analogs[0].scale = 0.25;
        p.analogs[0].offset = -3.5;
        p.extras = Cfg3Extras {
            g_pmu_id: *b"0123456789abcdef",
            latitude: 46.5,
            longitude: 6.5,
            elevation: 372.0,
            service_class: b'P',
            window: 40_000,
            group_delay: -20_000,
        };
        p.station = "a station name longer than sixteen bytes".into();
        let mut q = pmu(0x000C, 1, 1, 0);
        // scales travel as f32: exact binary fractions compare equal after the trip
        for (i, ph) in p.phasors.iter_mut().chain(q.phasors.iter_mut()).enumerate() {
            ph.scale = 0.125 * (i + 1) as f64;
        }
        // as parsed from CFG-3: the scales apply to the float phasors of `p` too
        Config::new(7734, 1_000_000, 60, vec![p, q])
            .unwrap()
            .with_phscale(true)
    }

    #[test]
    fn write_then_parse_keeps_every_field() {
        let cfg = sample();
        let mut body = Vec::new();
        write(&mut body, &cfg).unwrap();
        let mut back = parse(&body, 7734).unwrap();
        // analog kinds are not in CFG-3: they read back as RMS (1), which is what `pmu` uses
        assert_eq!(back, cfg);
        back = parse(&body, 7734).unwrap();
        assert_eq!(
            back.pmus()[0].phasors[1].component,
            Some(Component::Positive)
        );
    }

    #[test]
    fn the_smallest_configurations_parse() {
        // no slack anywhere: empty names, one phasor or none
        for nph in 0..2 {
            let mut p = pmu(0, nph, 0, 0);
            p.station.clear();
            for ph in &mut p.phasors {
                ph.name.clear();
                ph.scale = 1.0;
            }
            let cfg = Config::new(1, 1_000_000, 30, vec![p])
                .unwrap()
                .with_phscale(true);
            let mut body = Vec::new();
            write(&mut body, &cfg).unwrap();
            assert_eq!(parse(&body, 1).unwrap(), cfg);
        }
    }

    #[test]
    fn truncated_or_padded_bodies_are_errors() {
        let mut body = Vec::new();
        write(&mut body, &sample()).unwrap();
        for n in 0..body.len() {
            assert!(parse(&body[..n], 7734).is_err(), "cut at {n}");
        }
        body.push(0);
        assert!(parse(&body, 7734).is_err());
    }
}
