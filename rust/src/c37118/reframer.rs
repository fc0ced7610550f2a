//! Stream reframing: frames are delimited only by FRAMESIZE, one read may hold several frames or
//! part of one, and a stream can carry bytes that belong to no frame.
//!
//! A frame starts at 0xAA with a FRAMESIZE of at least 16 and is accepted only with a correct
//! CHK. A candidate whose CHK fails gives up one byte, not FRAMESIZE bytes, so a corrupted frame
//! (or a 0xAA in garbage) never swallows the good frame after it. While a candidate waits for
//! more bytes, the bytes already buffered are searched for a complete valid frame further on: a
//! false SYNC with a large FRAMESIZE would otherwise hold up a live stream until 64 KiB arrived.

use super::common::{be16, classify, FrameType, MIN_FRAME, SYNC};
use super::crc;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Bytes that were part of no frame.
    pub bytes_skipped: u64,
    /// Candidates with a known SYNC and a complete FRAMESIZE whose CHK failed.
    pub crc_errors: u64,
    /// Frames with a correct CHK but an unknown version or frame type (skipped whole).
    pub unknown_frames: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct RawFrame<'a> {
    pub bytes: &'a [u8],
    pub frame_type: FrameType,
    pub version: u8,
}

/// A complete frame with a known SYNC and a correct CHK at or after `from`, and where a later
/// search must resume (the first candidate still waiting for bytes).
fn lookahead(buf: &[u8], from: usize) -> (Option<usize>, usize) {
    let n = buf.len();
    let mut waiting = None;
    let mut q = from;
    while q < n {
        match buf[q..].iter().position(|&b| b == SYNC) {
            None => break,
            Some(i) => q += i,
        }
        if n - q < 4 {
            waiting.get_or_insert(q);
            break;
        }
        let size = be16(buf, q + 2) as usize;
        if classify(buf[q + 1]).is_some() && size >= MIN_FRAME {
            if n - q < size {
                waiting.get_or_insert(q);
            } else if crc::frame_ok(&buf[q..q + size]) {
                return (Some(q), q);
            }
        }
        q += 1;
    }
    (None, waiting.unwrap_or(n))
}

/// Emit the frames of `buf` in order and return how many bytes were consumed: what remains
/// starts with a candidate frame waiting for more bytes. `resume` carries, across calls, how far
/// the look-ahead for that candidate already got (relative to it).
pub fn scan<'a>(
    buf: &'a [u8],
    stats: &mut ScanStats,
    resume: &mut usize,
    mut emit: impl FnMut(RawFrame<'a>),
) -> usize {
    let n = buf.len();
    let mut p = 0;
    let mut la = *resume;
    while p < n {
        if buf[p] != SYNC {
            let skip = buf[p..].iter().position(|&b| b == SYNC).unwrap_or(n - p);
            stats.bytes_skipped += skip as u64;
            p += skip;
            la = 0;
            continue;
        }
        if n - p < 4 {
            break;
        }
        let size = be16(buf, p + 2) as usize;
        if size < MIN_FRAME {
            stats.bytes_skipped += 1;
            p += 1;
            la = 0;
            continue;
        }
        if n - p < size {
            let (found, next) = lookahead(buf, p + la.max(1));
            match found {
                Some(q) => {
                    stats.bytes_skipped += (q - p) as u64;
                    p = q;
                    la = 0;
                    continue;
                }
                None => {
                    la = next - p;
                    break;
                }
            }
        }
        let frame = &buf[p..p + size];
        let kind = classify(buf[p + 1]);
        if !crc::frame_ok(frame) {
            if kind.is_some() {
                stats.crc_errors += 1;
            }
            stats.bytes_skipped += 1;
            p += 1;
            la = 0;
            continue;
        }
        match kind {
            Some((frame_type, version)) => emit(RawFrame {
                bytes: frame,
                frame_type,
                version,
            }),
            None => stats.unknown_frames += 1,
        }
        p += size;
        la = 0;
    }
    *resume = if p < n { la } else { 0 };
    p
}

/// `scan` over a byte stream fed in pieces: keeps the unfinished tail between calls.
#[derive(Default)]
pub struct Reframer {
    buf: Vec<u8>,
    resume: usize,
    pub stats: ScanStats,
}

impl Reframer {
    pub fn feed<'s>(&'s mut self, data: &'s [u8], emit: impl FnMut(RawFrame<'_>)) {
        if self.buf.is_empty() {
            // the common case, whole frames per read: no copy
            let used = scan(data, &mut self.stats, &mut self.resume, emit);
            self.buf.extend_from_slice(&data[used..]);
        } else {
            self.buf.extend_from_slice(data);
            let used = scan(&self.buf, &mut self.stats, &mut self.resume, emit);
            self.buf.drain(..used);
        }
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.resume = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::command;
    use super::super::common::Timestamp;
    use super::*;

    fn cmd(idcode: u16, c: u16) -> Vec<u8> {
        let mut v = Vec::new();
        command::encode(&mut v, 2, idcode, Timestamp::default(), c, &[]).unwrap();
        v
    }

    fn collect(r: &mut Reframer, data: &[u8]) -> Vec<u16> {
        let mut ids = Vec::new();
        r.feed(data, |f| ids.push(be16(f.bytes, 4)));
        ids
    }

    #[test]
    fn several_frames_in_one_read_and_any_split() {
        let stream: Vec<u8> = [cmd(1, 2), cmd(2, 2), cmd(3, 2)].concat();
        let mut r = Reframer::default();
        assert_eq!(collect(&mut r, &stream), vec![1, 2, 3]);
        for cut in 0..=stream.len() {
            let mut r = Reframer::default();
            let mut ids = collect(&mut r, &stream[..cut]);
            ids.extend(collect(&mut r, &stream[cut..]));
            assert_eq!(ids, vec![1, 2, 3], "cut at {cut}");
            assert_eq!(r.stats, ScanStats::default());
            assert_eq!(r.buffered(), 0);
        }
    }

    #[test]
    fn garbage_is_skipped_and_counted() {
        let garbage = b"\x00\x01junk\xAA\x01\x00\x05xy\xAA";
        let stream: Vec<u8> = [&cmd(1, 2)[..], garbage, &cmd(2, 2)].concat();
        let mut r = Reframer::default();
        assert_eq!(collect(&mut r, &stream), vec![1, 2]);
        assert_eq!(r.stats.bytes_skipped, garbage.len() as u64);
    }

    #[test]
    fn a_bad_crc_loses_only_its_frame() {
        let mut bad = cmd(1, 2);
        bad[15] ^= 0xFF;
        let stream: Vec<u8> = [bad.clone(), cmd(2, 2)].concat();
        let mut r = Reframer::default();
        assert_eq!(collect(&mut r, &stream), vec![2]);
        assert_eq!(r.stats.crc_errors, 1);
        assert_eq!(r.stats.bytes_skipped, bad.len() as u64);
    }

    #[test]
    fn a_false_sync_with_a_huge_framesize_does_not_stall_the_stream() {
        // 0xAA 0x01 then FRAMESIZE 60000: a plausible data-frame SYNC in garbage
        let stream: Vec<u8> = [&b"\xAA\x01\xEA\x60"[..], &cmd(7, 2), &cmd(8, 2)].concat();
        let mut r = Reframer::default();
        assert_eq!(collect(&mut r, &stream), vec![7, 8]);
        assert_eq!(r.stats.bytes_skipped, 4);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn a_frame_arriving_byte_by_byte_waits_without_rescanning_forever() {
        let mut big = Vec::new();
        super::super::header_frame::encode(&mut big, 2, 5, Timestamp::default(), &[0xAA; 3000])
            .unwrap();
        let mut r = Reframer::default();
        let mut ids = Vec::new();
        for b in &big {
            ids.extend(collect(&mut r, std::slice::from_ref(b)));
        }
        assert_eq!(ids, vec![5]);
        assert_eq!(r.stats, ScanStats::default());
    }

    #[test]
    fn unknown_versions_and_types_are_skipped_whole() {
        let mut v3 = cmd(1, 2);
        v3[1] = 0x43; // version 3
        let crc = crc::crc16(&v3[..v3.len() - 2]);
        let n = v3.len();
        v3[n - 2..].copy_from_slice(&crc.to_be_bytes());
        let mut t7 = cmd(2, 2);
        t7[1] = 0x72; // frame type 7
        let crc = crc::crc16(&t7[..t7.len() - 2]);
        t7[n - 2..].copy_from_slice(&crc.to_be_bytes());
        let stream: Vec<u8> = [v3, t7, cmd(3, 2)].concat();
        let mut r = Reframer::default();
        assert_eq!(collect(&mut r, &stream), vec![3]);
        assert_eq!(r.stats.unknown_frames, 2);
        assert_eq!(r.stats.bytes_skipped, 0);
    }
}
