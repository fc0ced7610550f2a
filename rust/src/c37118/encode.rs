//! Whole frames from a configuration and values: for the simulator and for tests. Header and
//! command frames are encoded by their own modules.

use super::common::{FrameType, Timestamp};
use super::config::Config;
use super::data::{encode_blocks, PmuSample};
use super::{cfg12, cfg3, fragments, writer};
use crate::{Error, Result};

/// A CFG-1, CFG-2 or CFG-3 frame (CFG-3 split into fragments of at most `max_frame_size`).
pub fn config_frames(
    out: &mut Vec<u8>,
    cfg: &Config,
    frame_type: FrameType,
    version: u8,
    ts: Timestamp,
    max_frame_size: usize,
) -> Result<()> {
    match frame_type {
        FrameType::Cfg1 | FrameType::Cfg2 => {
            let start = writer::begin(out, frame_type, version, cfg.idcode(), ts)?;
            let r = cfg12::write(out, cfg).and_then(|_| writer::finish(out, start));
            if r.is_err() {
                out.truncate(start);
            }
            r
        }
        FrameType::Cfg3 => {
            if version < 2 {
                return Err(Error::Input(
                    "CFG-3 exists from version 2 (C37.118.2-2011) on; use version=2".into(),
                ));
            }
            let mut body = Vec::new();
            cfg3::write(&mut body, cfg)?;
            let start = out.len();
            let r = fragments::write_frames(out, &body, version, cfg.idcode(), ts, max_frame_size);
            if r.is_err() {
                out.truncate(start);
            }
            r
        }
        other => Err(Error::Input(format!(
            "a configuration is sent as cfg1, cfg2 or cfg3, not {}",
            other.name()
        ))),
    }
}

/// A data frame with one sample per PMU of `cfg`, in its order.
pub fn data_frame(
    out: &mut Vec<u8>,
    cfg: &Config,
    version: u8,
    ts: Timestamp,
    samples: &[PmuSample],
) -> Result<()> {
    if ts.fraction >= cfg.time_base() {
        return Err(Error::Input(format!(
            "fraction {} is not below TIME_BASE {}",
            ts.fraction,
            cfg.time_base()
        )));
    }
    let start = writer::begin(out, FrameType::Data, version, cfg.idcode(), ts)?;
    let r = encode_blocks(out, cfg, samples).and_then(|_| writer::finish(out, start));
    if r.is_err() {
        out.truncate(start);
    }
    r
}
