//! Command frames: CMD (1 off, 2 on, 3 send header, 4 send CFG-1, 5 send CFG-2, 6 send CFG-3,
//! 8 extended frame, 0x100-0xFFF user defined), then for an extended frame its data.

use super::common::{be16, FrameType, Timestamp, HEADER_LEN};
use super::writer;
use crate::{Error, Result};

pub const TURN_OFF: u16 = 1;
pub const TURN_ON: u16 = 2;
pub const SEND_HEADER: u16 = 3;
pub const SEND_CFG1: u16 = 4;
pub const SEND_CFG2: u16 = 5;
pub const SEND_CFG3: u16 = 6;
pub const EXTENDED: u16 = 8;

/// CMD and the extended data of a whole, CRC-checked command frame.
pub fn parse(frame: &[u8]) -> Result<(u16, &[u8])> {
    let n = frame.len();
    if n < HEADER_LEN + 4 {
        return Err(Error::Input(format!(
            "command frame of {n} bytes; at least 18 expected"
        )));
    }
    Ok((be16(frame, HEADER_LEN), &frame[HEADER_LEN + 2..n - 2]))
}

pub fn encode(
    out: &mut Vec<u8>,
    version: u8,
    idcode: u16,
    ts: Timestamp,
    command: u16,
    extended: &[u8],
) -> Result<()> {
    let start = writer::begin(out, FrameType::Command, version, idcode, ts)?;
    writer::put16(out, command);
    out.extend_from_slice(extended);
    writer::finish(out, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypmu_turn_on_vector() {
        // pypmu tests/validate_frames.py: "start" for IDCODE 7734, SOC 1149591600,
        // fraction 770000 with time quality 15
        let ts = Timestamp::from_fracsec(1149591600, 0x0F0B_BFD0);
        let mut out = Vec::new();
        encode(&mut out, 1, 7734, ts, TURN_ON, &[]).unwrap();
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "aa4100121e36448560300f0bbfd00002ce00");
        assert_eq!(parse(&out).unwrap(), (TURN_ON, &[][..]));
    }
}
