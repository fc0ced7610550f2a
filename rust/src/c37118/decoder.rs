//! The stateful decoder: reframed, CRC-checked frames in; decoded frames out, with the
//! configurations needed for data frames kept per stream IDCODE and CFG-3 fragments joined.

use std::collections::HashMap;
use std::sync::Arc;

use super::common::{be16, CommonHeader, FrameType, Timestamp, HEADER_LEN};
use super::config::Config;
use super::data::{decode_data, DataValues};
use super::fragments::Cfg3Assembler;
use super::reframer::{RawFrame, Reframer, ScanStats};
use super::{cfg12, cfg3, command, header_frame};

/// Counters since the decoder was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub data: u64,
    pub header: u64,
    pub cfg1: u64,
    pub cfg2: u64,
    pub cfg3: u64,
    pub command: u64,
    pub cfg3_fragments: u64,
    pub bytes: u64,
    pub bytes_skipped: u64,
    pub crc_errors: u64,
    pub unknown_frames: u64,
    pub no_config: u64,
    pub malformed: u64,
}

impl Stats {
    /// (name, value) pairs, the names of the Python `stats` dict.
    pub fn items(&self) -> [(&'static str, u64); 13] {
        [
            ("data", self.data),
            ("header", self.header),
            ("cfg1", self.cfg1),
            ("cfg2", self.cfg2),
            ("cfg3", self.cfg3),
            ("command", self.command),
            ("cfg3_fragments", self.cfg3_fragments),
            ("bytes", self.bytes),
            ("bytes_skipped", self.bytes_skipped),
            ("crc_errors", self.crc_errors),
            ("unknown_frames", self.unknown_frames),
            ("no_config", self.no_config),
            ("malformed", self.malformed),
        ]
    }

    fn with_scan(mut self, s: &ScanStats) -> Stats {
        self.bytes_skipped = s.bytes_skipped;
        self.crc_errors = s.crc_errors;
        self.unknown_frames = s.unknown_frames;
        self
    }
}

/// The header fields of a decoded frame, with the TIME_BASE its time is read with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameInfo {
    pub frame_type: FrameType,
    pub version: u8,
    pub idcode: u16,
    pub size: u16,
    pub timestamp: Timestamp,
    pub time_base: u32,
}

impl FrameInfo {
    pub fn time(&self) -> f64 {
        self.timestamp.seconds(self.time_base)
    }
}

/// TIME_BASE for frames whose stream has no configuration yet.
pub const DEFAULT_TIME_BASE: u32 = 1_000_000;

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Data {
        config: Arc<Config>,
        values: DataValues,
    },
    Config(Arc<Config>),
    Command {
        command: u16,
        extended: Vec<u8>,
    },
    Header(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub info: FrameInfo,
    pub body: Body,
}

/// What one checked frame turned into. Data frames are left undecoded so that the batch decoder
/// can write them straight into its columns.
pub(crate) enum Handled<'a> {
    Data {
        info: FrameInfo,
        config: Arc<Config>,
        frame: &'a [u8],
    },
    Other(Frame),
    Nothing,
}

/// Configurations, CFG-3 fragments and counters: everything but the byte buffer.
#[derive(Default)]
pub(crate) struct FrameHandler {
    configs: HashMap<u16, Arc<Config>>,
    latest: Option<Arc<Config>>,
    fragments: Cfg3Assembler,
    pub stats: Stats,
}

impl FrameHandler {
    pub fn use_config(&mut self, config: Arc<Config>) {
        self.configs.insert(config.idcode(), config.clone());
        self.latest = Some(config);
    }

    pub fn handle<'a>(&mut self, raw: RawFrame<'a>) -> Handled<'a> {
        let f = raw.bytes;
        let h = CommonHeader::read(f, raw.frame_type, raw.version);
        let info = |time_base| FrameInfo {
            frame_type: h.frame_type,
            version: h.version,
            idcode: h.idcode,
            size: h.size,
            timestamp: h.timestamp,
            time_base,
        };
        let body = &f[HEADER_LEN..f.len() - 2];
        match raw.frame_type {
            FrameType::Data => {
                let Some(config) = self.configs.get(&h.idcode) else {
                    self.stats.no_config += 1;
                    return Handled::Nothing;
                };
                if f.len() != config.data_frame_size() {
                    self.stats.malformed += 1;
                    return Handled::Nothing;
                }
                self.stats.data += 1;
                Handled::Data {
                    info: info(config.time_base()),
                    config: config.clone(),
                    frame: f,
                }
            }
            FrameType::Cfg1 | FrameType::Cfg2 => match cfg12::parse(body, h.idcode) {
                Ok(cfg) => {
                    let cfg = Arc::new(cfg);
                    if raw.frame_type == FrameType::Cfg2 {
                        self.stats.cfg2 += 1;
                        self.use_config(cfg.clone());
                    } else {
                        self.stats.cfg1 += 1;
                    }
                    Handled::Other(Frame {
                        info: info(cfg.time_base()),
                        body: Body::Config(cfg),
                    })
                }
                Err(_) => {
                    self.stats.malformed += 1;
                    Handled::Nothing
                }
            },
            FrameType::Cfg3 => {
                if body.len() < 2 {
                    self.stats.malformed += 1;
                    return Handled::Nothing;
                }
                let cont_idx = be16(body, 0);
                if cont_idx != 0 {
                    self.stats.cfg3_fragments += 1;
                }
                let whole = match self.fragments.push(h.idcode, cont_idx, &body[2..]) {
                    Ok(Some(whole)) => whole,
                    Ok(None) => return Handled::Nothing,
                    Err(_) => {
                        self.stats.malformed += 1;
                        return Handled::Nothing;
                    }
                };
                match cfg3::parse(&whole, h.idcode) {
                    Ok(cfg) => {
                        let cfg = Arc::new(cfg);
                        self.stats.cfg3 += 1;
                        self.use_config(cfg.clone());
                        Handled::Other(Frame {
                            info: info(cfg.time_base()),
                            body: Body::Config(cfg),
                        })
                    }
                    Err(_) => {
                        self.stats.malformed += 1;
                        Handled::Nothing
                    }
                }
            }
            FrameType::Command => match command::parse(f) {
                Ok((cmd, extended)) => {
                    self.stats.command += 1;
                    Handled::Other(Frame {
                        info: info(self.time_base(h.idcode)),
                        body: Body::Command {
                            command: cmd,
                            extended: extended.to_vec(),
                        },
                    })
                }
                Err(_) => {
                    self.stats.malformed += 1;
                    Handled::Nothing
                }
            },
            FrameType::Header => {
                self.stats.header += 1;
                Handled::Other(Frame {
                    info: info(self.time_base(h.idcode)),
                    body: Body::Header(header_frame::text(f).to_vec()),
                })
            }
        }
    }

    fn time_base(&self, idcode: u16) -> u32 {
        self.configs
            .get(&idcode)
            .map_or(DEFAULT_TIME_BASE, |c| c.time_base())
    }
}

/// Bytes in (any split), frames out in stream order.
#[derive(Default)]
pub struct Decoder {
    reframer: Reframer,
    handler: FrameHandler,
}

impl Decoder {
    pub fn new(config: Option<Arc<Config>>) -> Decoder {
        let mut d = Decoder::default();
        if let Some(c) = config {
            d.handler.use_config(c);
        }
        d
    }

    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Frame>) {
        self.handler.stats.bytes += data.len() as u64;
        let handler = &mut self.handler;
        self.reframer.feed(data, |raw| match handler.handle(raw) {
            Handled::Data {
                info,
                config,
                frame,
            } => {
                let values = decode_data(frame, &config);
                out.push(Frame {
                    info,
                    body: Body::Data { config, values },
                });
            }
            Handled::Other(frame) => out.push(frame),
            Handled::Nothing => {}
        });
    }

    pub fn use_config(&mut self, config: Arc<Config>) {
        self.handler.use_config(config);
    }

    /// Drop partial bytes and pending CFG-3 fragments; keep configurations and counters.
    pub fn reset(&mut self) {
        self.reframer.clear();
        self.handler.fragments.clear();
    }

    pub fn stats(&self) -> Stats {
        self.handler.stats.with_scan(&self.reframer.stats)
    }

    pub fn config(&self) -> Option<&Arc<Config>> {
        self.handler.latest.as_ref()
    }

    pub fn configs(&self) -> &HashMap<u16, Arc<Config>> {
        &self.handler.configs
    }

    pub fn buffered(&self) -> usize {
        self.reframer.buffered()
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::tests::pmu;
    use super::super::data::{Phasor, PmuSample};
    use super::super::encode;
    use super::*;

    fn stream() -> (Vec<u8>, Config) {
        let cfg = Config::new(7734, 1_000_000, 50, vec![pmu(0x0004, 2, 1, 1)]).unwrap();
        let mut s = Vec::new();
        encode::config_frames(
            &mut s,
            &cfg,
            FrameType::Cfg2,
            2,
            Timestamp::default(),
            65535,
        )
        .unwrap();
        for k in 0..5u32 {
            let ph = [Phasor::new(k as f64, 1.0), Phasor::new(2.0, -(k as f64))];
            let sample = PmuSample {
                stat: k as u16,
                freq: 60.0 + k as f64 * 0.001,
                rocof: 0.0,
                phasors: &ph,
                analogs: &[k as f64],
                digitals: &[k as u16],
            };
            let ts = Timestamp::from_parts(1_700_000_000, k as i64 * 20_000, 1_000_000).unwrap();
            encode::data_frame(&mut s, &cfg, 2, ts, &[sample]).unwrap();
        }
        (s, cfg)
    }

    #[test]
    fn config_then_data() {
        let (s, cfg) = stream();
        let mut d = Decoder::default();
        let mut out = Vec::new();
        d.feed(&s, &mut out);
        assert_eq!(out.len(), 6);
        assert_eq!(d.config().map(|c| **c == cfg), Some(true));
        let Body::Data { values, .. } = &out[3].body else {
            panic!("not data")
        };
        assert_eq!(values.pmus[0].stat, 2);
        assert_eq!(values.analogs, vec![2.0]);
        assert_eq!(out[3].info.time(), 1_700_000_000.04);
        assert_eq!(d.stats().data, 5);
        assert_eq!(d.stats().cfg2, 1);
        assert_eq!(d.stats().bytes, s.len() as u64);
    }

    #[test]
    fn data_without_config_is_counted_not_returned() {
        let (s, cfg) = stream();
        let first_data = cfg12_len(&s);
        let mut d = Decoder::default();
        let mut out = Vec::new();
        d.feed(&s[first_data..], &mut out);
        assert!(out.is_empty());
        assert_eq!(d.stats().no_config, 5);
        // the configuration from elsewhere (e.g. TCP, with data over UDP)
        d.use_config(Arc::new(cfg));
        d.feed(&s[first_data..], &mut out);
        assert_eq!(out.len(), 5);
    }

    fn cfg12_len(s: &[u8]) -> usize {
        be16(s, 2) as usize
    }

    #[test]
    fn every_split_decodes_the_same() {
        let (s, _) = stream();
        let mut whole = Vec::new();
        Decoder::default().feed(&s, &mut whole);
        for cut in 0..=s.len() {
            let mut d = Decoder::default();
            let mut parts = Vec::new();
            d.feed(&s[..cut], &mut parts);
            d.feed(&s[cut..], &mut parts);
            assert_eq!(parts, whole, "cut at {cut}");
        }
    }
}
