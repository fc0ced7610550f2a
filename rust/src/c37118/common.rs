//! The common header every frame starts with (SYNC, FRAMESIZE, IDCODE, SOC, FRACSEC) and the
//! timestamp it carries.

use crate::{Error, Result};

pub const SYNC: u8 = 0xAA;
/// SYNC (2) + FRAMESIZE (2) + IDCODE (2) + SOC (4) + FRACSEC (4).
pub const HEADER_LEN: usize = 14;
pub const CHK_LEN: usize = 2;
/// The shortest frame: a header and CHK (a header frame with no text).
pub const MIN_FRAME: usize = HEADER_LEN + CHK_LEN;

/// Frame type, SYNC bits 6-4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameType {
    Data,
    Header,
    Cfg1,
    Cfg2,
    Command,
    Cfg3,
}

impl FrameType {
    pub fn from_code(code: u8) -> Option<FrameType> {
        Some(match code {
            0 => FrameType::Data,
            1 => FrameType::Header,
            2 => FrameType::Cfg1,
            3 => FrameType::Cfg2,
            4 => FrameType::Command,
            5 => FrameType::Cfg3,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        match self {
            FrameType::Data => 0,
            FrameType::Header => 1,
            FrameType::Cfg1 => 2,
            FrameType::Cfg2 => 3,
            FrameType::Command => 4,
            FrameType::Cfg3 => 5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FrameType::Data => "data",
            FrameType::Header => "header",
            FrameType::Cfg1 => "cfg1",
            FrameType::Cfg2 => "cfg2",
            FrameType::Command => "command",
            FrameType::Cfg3 => "cfg3",
        }
    }

    pub fn parse(name: &str) -> Result<FrameType> {
        Ok(match name {
            "data" => FrameType::Data,
            "header" => FrameType::Header,
            "cfg1" => FrameType::Cfg1,
            "cfg2" => FrameType::Cfg2,
            "command" => FrameType::Command,
            "cfg3" => FrameType::Cfg3,
            _ => {
                return Err(Error::Input(format!(
                    "unknown C37.118 frame type {name:?}; expected data, header, cfg1, cfg2, cfg3 or command"
                )))
            }
        })
    }

    pub fn is_config(self) -> bool {
        matches!(self, FrameType::Cfg1 | FrameType::Cfg2 | FrameType::Cfg3)
    }
}

/// Version 1 = IEEE C37.118-2005, 2 = C37.118.2-2011. Others are skipped as unknown.
pub fn version_known(version: u8) -> bool {
    version == 1 || version == 2
}

pub fn check_version(version: u8) -> Result<()> {
    if version_known(version) {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "C37.118 version must be 1 (2005) or 2 (2011), got {version}"
        )))
    }
}

/// SOC and FRACSEC. FRACSEC's top byte holds the flags (bit 7 reserved, 6 leap direction,
/// 5 leap occurred, 4 leap pending, 3-0 time quality); its low 24 bits the fraction count, all
/// 24 of them (a 23-bit mask is one of the public parsers' defects).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Timestamp {
    pub soc: u32,
    pub fraction: u32,
    pub flags: u8,
}

pub const LEAP_DELETE: u8 = 0x40;
pub const LEAP_OCCURRED: u8 = 0x20;
pub const LEAP_PENDING: u8 = 0x10;

impl Timestamp {
    pub fn from_fracsec(soc: u32, fracsec: u32) -> Timestamp {
        Timestamp {
            soc,
            fraction: fracsec & 0x00FF_FFFF,
            flags: (fracsec >> 24) as u8,
        }
    }

    pub fn fracsec(&self) -> u32 {
        ((self.flags as u32) << 24) | (self.fraction & 0x00FF_FFFF)
    }

    pub fn time_quality(&self) -> u8 {
        self.flags & 0x0F
    }

    pub fn leap_pending(&self) -> bool {
        self.flags & LEAP_PENDING != 0
    }

    pub fn leap_occurred(&self) -> bool {
        self.flags & LEAP_OCCURRED != 0
    }

    pub fn leap_delete(&self) -> bool {
        self.flags & LEAP_DELETE != 0
    }

    /// Epoch seconds: SOC + fraction / TIME_BASE. A FRACSEC of 0 is the top of the second, not
    /// "no time" (replacing it by the local clock is a public parser's defect).
    pub fn seconds(&self, time_base: u32) -> f64 {
        self.soc as f64 + self.fraction as f64 / time_base.max(1) as f64
    }

    /// The timestamp of epoch seconds `t`, the fraction rounded to `time_base`.
    pub fn from_seconds(t: f64, time_base: u32) -> Result<Timestamp> {
        check_time_base(time_base)?;
        if !(0.0..4_294_967_296.0).contains(&t) {
            return Err(Error::Input(format!(
                "C37.118 time must be epoch seconds in 0..2^32, got {t}"
            )));
        }
        let mut soc = t.floor();
        let mut fraction = ((t - soc) * time_base as f64).round();
        if fraction >= time_base as f64 {
            soc += 1.0;
            fraction -= time_base as f64;
        }
        if soc >= 4_294_967_296.0 {
            return Err(Error::Input(format!(
                "C37.118 time {t} rounds past the last SOC (2^32 - 1)"
            )));
        }
        Ok(Timestamp {
            soc: soc as u32,
            fraction: fraction as u32,
            flags: 0,
        })
    }

    /// The timestamp (SOC, fraction count) given exactly.
    pub fn from_parts(soc: i64, fraction: i64, time_base: u32) -> Result<Timestamp> {
        check_time_base(time_base)?;
        if !(0..=u32::MAX as i64).contains(&soc) {
            return Err(Error::Input(format!(
                "C37.118 SOC must be in 0..2^32-1, got {soc}"
            )));
        }
        if !(0..time_base as i64).contains(&fraction) {
            return Err(Error::Input(format!(
                "C37.118 fraction must be in 0..TIME_BASE-1 = {}, got {fraction}",
                time_base - 1
            )));
        }
        Ok(Timestamp {
            soc: soc as u32,
            fraction: fraction as u32,
            flags: 0,
        })
    }

    /// Set the FRACSEC flags (time quality 0..15 and the leap-second bits).
    pub fn with_flags(
        mut self,
        time_quality: u8,
        leap_pending: bool,
        leap_occurred: bool,
        leap_delete: bool,
    ) -> Result<Timestamp> {
        if time_quality > 15 {
            return Err(Error::Input(format!(
                "C37.118 time_quality must be 0..15, got {time_quality}"
            )));
        }
        self.flags = time_quality
            | if leap_pending { LEAP_PENDING } else { 0 }
            | if leap_occurred { LEAP_OCCURRED } else { 0 }
            | if leap_delete { LEAP_DELETE } else { 0 };
        Ok(self)
    }
}

pub fn check_time_base(time_base: u32) -> Result<()> {
    if time_base == 0 || time_base > 0x00FF_FFFF {
        return Err(Error::Input(format!(
            "C37.118 TIME_BASE must be in 1..2^24-1, got {time_base}"
        )));
    }
    Ok(())
}

/// The common header of a frame whose SYNC, FRAMESIZE and CHK were already checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommonHeader {
    pub frame_type: FrameType,
    pub version: u8,
    pub size: u16,
    pub idcode: u16,
    pub timestamp: Timestamp,
}

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl CommonHeader {
    /// Read the header of `frame` (at least HEADER_LEN bytes) of a known type.
    pub fn read(frame: &[u8], frame_type: FrameType, version: u8) -> CommonHeader {
        CommonHeader {
            frame_type,
            version,
            size: be16(frame, 2),
            idcode: be16(frame, 4),
            timestamp: Timestamp::from_fracsec(be32(frame, 6), be32(frame, 10)),
        }
    }
}

/// Frame type and version from the second SYNC byte, None for a reserved bit 7, a type 6/7 or
/// a version other than 1 and 2.
#[inline]
pub fn classify(sync2: u8) -> Option<(FrameType, u8)> {
    if sync2 & 0x80 != 0 {
        return None;
    }
    let version = sync2 & 0x0F;
    if !version_known(version) {
        return None;
    }
    FrameType::from_code((sync2 >> 4) & 0x07).map(|t| (t, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fracsec_keeps_24_fraction_bits_and_splits_the_flags() {
        // 0x56 = leap direction (delete) + leap pending + time quality 6; fraction 0x071098
        let ts = Timestamp::from_fracsec(1149577200, 0x5607_1098);
        assert_eq!(ts.fraction, 463000);
        assert_eq!(ts.time_quality(), 6);
        assert!(ts.leap_delete() && ts.leap_pending() && !ts.leap_occurred());
        assert_eq!(ts.fracsec(), 0x5607_1098);
        // bit 23 of the fraction belongs to it: 9,000,000 needs 24 bits
        let big = Timestamp::from_fracsec(0, 9_000_000);
        assert_eq!(big.fraction, 9_000_000);
        assert_eq!(big.flags, 0);
        assert_eq!(big.seconds(10_000_000), 0.9);
    }

    #[test]
    fn seconds_round_trip_and_carry() {
        let ts = Timestamp::from_seconds(1_700_000_000.25, 1_000_000).unwrap();
        assert_eq!((ts.soc, ts.fraction), (1_700_000_000, 250_000));
        // a fraction that rounds up to TIME_BASE carries into SOC
        let ts = Timestamp::from_seconds(10.9999999, 1000).unwrap();
        assert_eq!((ts.soc, ts.fraction), (11, 0));
        assert!(Timestamp::from_seconds(f64::NAN, 1000).is_err());
        assert!(Timestamp::from_seconds(-1.0, 1000).is_err());
        assert!(Timestamp::from_seconds(1.0, 0).is_err());
        assert!(Timestamp::from_parts(5, 1000, 1000).is_err());
    }

    #[test]
    fn classify_sync_byte() {
        assert_eq!(classify(0x01), Some((FrameType::Data, 1)));
        assert_eq!(classify(0x52), Some((FrameType::Cfg3, 2)));
        assert_eq!(classify(0x31), Some((FrameType::Cfg2, 1)));
        assert_eq!(classify(0x03), None, "version 3 is unknown here");
        assert_eq!(classify(0x61), None, "frame type 6 is reserved");
        assert_eq!(classify(0x81), None, "bit 7 is reserved");
    }
}
