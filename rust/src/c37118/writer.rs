//! Frame assembly for the encoders: the common header, then the body, then FRAMESIZE patched in
//! and CHK appended.

use super::common::{check_version, FrameType, Timestamp, SYNC};
use super::crc;
use crate::{Error, Result};

/// Start a frame in `out`; returns its offset for `finish`.
pub(crate) fn begin(
    out: &mut Vec<u8>,
    frame_type: FrameType,
    version: u8,
    idcode: u16,
    ts: Timestamp,
) -> Result<usize> {
    check_version(version)?;
    let start = out.len();
    out.push(SYNC);
    out.push((frame_type.code() << 4) | version);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&idcode.to_be_bytes());
    out.extend_from_slice(&ts.soc.to_be_bytes());
    out.extend_from_slice(&ts.fracsec().to_be_bytes());
    Ok(start)
}

/// Patch FRAMESIZE and append CHK to the frame begun at `start`.
pub(crate) fn finish(out: &mut Vec<u8>, start: usize) -> Result<()> {
    let size = out.len() - start + 2;
    if size > u16::MAX as usize {
        return Err(Error::Input(format!(
            "C37.118 frame would be {size} bytes; FRAMESIZE allows at most 65535"
        )));
    }
    out[start + 2..start + 4].copy_from_slice(&(size as u16).to_be_bytes());
    let chk = crc::crc16(&out[start..]);
    out.extend_from_slice(&chk.to_be_bytes());
    Ok(())
}

#[inline]
pub(crate) fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put_f32(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_be_bytes());
}
