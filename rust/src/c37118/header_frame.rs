//! Header frames: free text (ASCII in the standard) between the common header and CHK.

use super::common::{FrameType, Timestamp, HEADER_LEN};
use super::writer;
use crate::Result;

pub fn text(frame: &[u8]) -> &[u8] {
    &frame[HEADER_LEN..frame.len() - 2]
}

pub fn encode(
    out: &mut Vec<u8>,
    version: u8,
    idcode: u16,
    ts: Timestamp,
    text: &[u8],
) -> Result<()> {
    let start = writer::begin(out, FrameType::Header, version, idcode, ts)?;
    out.extend_from_slice(text);
    writer::finish(out, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypmu_header_vector() {
        // pypmu tests/validate_frames.py
        let ts = Timestamp::from_fracsec(1149591600, 0x0F0B_BFD0);
        let mut out = Vec::new();
        encode(&mut out, 1, 7734, ts, b"Hello I'm Header Frame.").unwrap();
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "aa1100271e36448560300f0bbfd048656c6c6f2049276d20486561646572204672616d652e17cc"
        );
        assert_eq!(text(&out), b"Hello I'm Header Frame.");
    }
}
