//! CFG-3 fragmentation by CONT_IDX: 0 = the only frame, 1 = the first of several, 2..65534 the
//! following ones in order, 0xFFFF the last. Each fragment is a whole frame (header, CONT_IDX, a
//! piece of the CFG-3 body, CHK); the body is the concatenation of the pieces.

use std::collections::HashMap;

use super::common::{FrameType, Timestamp, CHK_LEN, HEADER_LEN};
use super::writer;
use crate::{Error, Result};

pub const ONLY: u16 = 0;
pub const FIRST: u16 = 1;
pub const LAST: u16 = 0xFFFF;

/// A reassembled CFG-3 larger than this is refused: no real configuration comes close, and a
/// stream of bogus fragments must not grow memory without bound.
const MAX_BODY: usize = 16 << 20;

/// Frames of a CFG-3 body: one (CONT_IDX 0) if it fits `max_frame_size`, else fragments.
pub fn write_frames(
    out: &mut Vec<u8>,
    body: &[u8],
    version: u8,
    idcode: u16,
    ts: Timestamp,
    max_frame_size: usize,
) -> Result<()> {
    let overhead = HEADER_LEN + 2 + CHK_LEN;
    if !(overhead < max_frame_size && max_frame_size <= u16::MAX as usize) {
        return Err(Error::Input(format!(
            "max_frame_size must be in {}..65535, got {max_frame_size}",
            overhead + 1
        )));
    }
    let room = max_frame_size - overhead;
    let pieces: Vec<&[u8]> = if body.len() <= room {
        vec![body]
    } else {
        body.chunks(room).collect()
    };
    if pieces.len() > 65535 {
        return Err(Error::Input(format!(
            "a CFG-3 of {} bytes needs {} fragments of at most {max_frame_size} bytes; CONT_IDX allows 65535",
            body.len(),
            pieces.len()
        )));
    }
    let n = pieces.len();
    for (i, piece) in pieces.into_iter().enumerate() {
        let cont = match (n, i) {
            (1, _) => ONLY,
            (_, i) if i + 1 == n => LAST,
            (_, i) => i as u16 + 1,
        };
        let start = writer::begin(out, FrameType::Cfg3, version, idcode, ts)?;
        writer::put16(out, cont);
        out.extend_from_slice(piece);
        writer::finish(out, start)?;
    }
    Ok(())
}

struct Pending {
    next: u32,
    body: Vec<u8>,
}

/// Joins CFG-3 fragments per stream IDCODE.
#[derive(Default)]
pub struct Cfg3Assembler {
    pending: HashMap<u16, Pending>,
}

impl Cfg3Assembler {
    /// Add a fragment; the whole body once the last one is in. An out-of-order fragment drops
    /// what was pending for the stream and is an error.
    pub fn push(&mut self, idcode: u16, cont_idx: u16, piece: &[u8]) -> Result<Option<Vec<u8>>> {
        match cont_idx {
            ONLY => {
                self.pending.remove(&idcode);
                Ok(Some(piece.to_vec()))
            }
            FIRST => {
                self.pending.insert(
                    idcode,
                    Pending {
                        next: 2,
                        body: piece.to_vec(),
                    },
                );
                Ok(None)
            }
            k => {
                let Some(mut p) = self.pending.remove(&idcode) else {
                    return Err(Error::Input(format!(
                        "CFG-3 fragment {k:#06x} of stream {idcode} without its first fragment"
                    )));
                };
                if k != LAST && k as u32 != p.next {
                    return Err(Error::Input(format!(
                        "CFG-3 fragment {k} of stream {idcode} arrived where {} was due",
                        p.next
                    )));
                }
                if p.body.len() + piece.len() > MAX_BODY {
                    return Err(Error::Input(format!(
                        "CFG-3 of stream {idcode} exceeds {MAX_BODY} bytes"
                    )));
                }
                p.body.extend_from_slice(piece);
                if k == LAST {
                    return Ok(Some(p.body));
                }
                p.next += 1;
                self.pending.insert(idcode, p);
                Ok(None)
            }
        }
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::be16;
    use super::*;

    fn frames(buf: &[u8]) -> Vec<&[u8]> {
        let mut v = Vec::new();
        let mut p = 0;
        while p < buf.len() {
            let n = be16(buf, p + 2) as usize;
            v.push(&buf[p..p + n]);
            p += n;
        }
        v
    }

    #[test]
    fn split_and_join() {
        let body: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        write_frames(&mut out, &body, 2, 9, Timestamp::default(), 118).unwrap();
        let fs = frames(&out);
        assert_eq!(fs.len(), 10); // 100 body bytes per frame
        let idx: Vec<u16> = fs.iter().map(|f| be16(f, 14)).collect();
        assert_eq!(idx, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 0xFFFF]);
        let mut asm = Cfg3Assembler::default();
        let mut whole = None;
        for f in &fs {
            assert!(super::super::crc::frame_ok(f));
            whole = asm.push(9, be16(f, 14), &f[16..f.len() - 2]).unwrap();
        }
        assert_eq!(whole.unwrap(), body);
    }

    #[test]
    fn a_body_that_fits_is_one_frame_with_cont_idx_0() {
        let mut out = Vec::new();
        write_frames(&mut out, &[1, 2, 3], 2, 9, Timestamp::default(), 65535).unwrap();
        assert_eq!(frames(&out).len(), 1);
        assert_eq!(be16(&out, 14), 0);
    }

    #[test]
    fn out_of_order_fragments_are_errors() {
        let mut asm = Cfg3Assembler::default();
        assert!(asm.push(1, 2, b"x").is_err());
        assert!(asm.push(1, LAST, b"x").is_err());
        assert!(asm.push(1, FIRST, b"a").unwrap().is_none());
        assert!(asm.push(1, 3, b"c").is_err(), "2 skipped");
        assert!(asm.push(1, LAST, b"x").is_err(), "dropped after the error");
        // streams are kept apart
        asm.push(1, FIRST, b"a").unwrap();
        asm.push(2, FIRST, b"z").unwrap();
        assert_eq!(asm.push(1, LAST, b"b").unwrap().unwrap(), b"ab");
        assert_eq!(asm.push(2, LAST, b"y").unwrap().unwrap(), b"zy");
    }
}
