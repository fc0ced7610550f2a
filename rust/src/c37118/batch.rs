//! A recorded stream decoded at once into per-PMU columns (time, freq, rocof, stat, phasors,
//! analogs, digitals): the same frames and values as `Decoder`, without a value object per frame.

use std::collections::HashMap;
use std::sync::Arc;

use super::config::Config;
use super::data::{decode_block, Phasor};
use super::decoder::{FrameHandler, Handled, Stats};
use super::reframer::scan;
use crate::{Error, Result};

/// One PMU's values, a row per data frame; phasors, analogs and digitals are row-major
/// (frames × channels).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PmuColumns {
    pub idcode: u16,
    pub n_phasors: usize,
    pub n_analogs: usize,
    pub n_digitals: usize,
    pub time: Vec<f64>,
    pub freq: Vec<f64>,
    pub rocof: Vec<f64>,
    pub stat: Vec<u16>,
    pub phasors: Vec<Phasor>,
    pub analogs: Vec<f64>,
    pub digitals: Vec<u16>,
}

impl PmuColumns {
    fn with_rows(
        idcode: u16,
        (n_phasors, n_analogs, n_digitals): (usize, usize, usize),
        rows: usize,
    ) -> Self {
        PmuColumns {
            idcode,
            n_phasors,
            n_analogs,
            n_digitals,
            time: Vec::with_capacity(rows),
            freq: Vec::with_capacity(rows),
            rocof: Vec::with_capacity(rows),
            stat: Vec::with_capacity(rows),
            phasors: Vec::with_capacity(rows * n_phasors),
            analogs: Vec::with_capacity(rows * n_analogs),
            digitals: Vec::with_capacity(rows * n_digitals),
        }
    }
}

/// The columns of every PMU, in order of first appearance, and the decoder's counters.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub pmus: Vec<PmuColumns>,
    pub stats: Stats,
}

/// Column index of each PMU block of `cfg` (created on first sight); an error if a PMU's channel
/// counts differ from its earlier configuration or it appears twice in one configuration.
fn map_columns(
    cfg: &Config,
    cols: &mut Vec<PmuColumns>,
    index: &mut HashMap<u16, usize>,
    bytes_left: usize,
) -> Result<Vec<usize>> {
    let mut map = Vec::with_capacity(cfg.pmus().len());
    // at most this many more data frames: reserving for them spares the copies of growing columns
    let rows = bytes_left / cfg.data_frame_size().max(1);
    for p in cfg.pmus() {
        let shape = (p.phasors.len(), p.analogs.len(), p.digital_words());
        let i = *index.entry(p.idcode).or_insert_with(|| {
            cols.push(PmuColumns::with_rows(p.idcode, shape, rows));
            cols.len() - 1
        });
        let c = &cols[i];
        if (c.n_phasors, c.n_analogs, c.n_digitals) != shape {
            return Err(Error::Input(format!(
                "PMU {} changes from {} phasors, {} analogs, {} digital words to {}, {}, {} within the stream; decode the parts separately",
                p.idcode, c.n_phasors, c.n_analogs, c.n_digitals, shape.0, shape.1, shape.2
            )));
        }
        if map.contains(&i) {
            return Err(Error::Input(format!(
                "PMU IDCODE {} appears twice in the configuration of stream {}",
                p.idcode,
                cfg.idcode()
            )));
        }
        map.push(i);
    }
    Ok(map)
}

pub fn decode_stream(data: &[u8], config: Option<Arc<Config>>) -> Result<Batch> {
    let mut handler = FrameHandler::default();
    if let Some(c) = config {
        handler.use_config(c);
    }
    let mut cols: Vec<PmuColumns> = Vec::new();
    let mut index: HashMap<u16, usize> = HashMap::new();
    let mut current: Option<(Arc<Config>, Vec<usize>)> = None;
    let mut error: Option<Error> = None;
    let mut scan_stats = Default::default();
    let mut resume = 0;
    let used = scan(data, &mut scan_stats, &mut resume, |raw| {
        if error.is_some() {
            return;
        }
        let bytes_left = data.len() - (raw.bytes.as_ptr() as usize - data.as_ptr() as usize);
        let Handled::Data {
            info,
            config,
            frame,
        } = handler.handle(raw)
        else {
            return;
        };
        if !current
            .as_ref()
            .is_some_and(|(c, _)| Arc::ptr_eq(c, &config))
        {
            match map_columns(&config, &mut cols, &mut index, bytes_left) {
                Ok(map) => current = Some((config.clone(), map)),
                Err(e) => {
                    error = Some(e);
                    return;
                }
            }
        }
        let (cfg, map) = current.as_ref().expect("set above");
        let t = info.time();
        for ((pmu, lay), &ci) in cfg.pmus().iter().zip(cfg.layouts()).zip(map) {
            let c = &mut cols[ci];
            let (ph0, an0, dg0) = (c.phasors.len(), c.analogs.len(), c.digitals.len());
            c.phasors.resize(ph0 + c.n_phasors, Phasor::default());
            c.analogs.resize(an0 + c.n_analogs, 0.0);
            c.digitals.resize(dg0 + c.n_digitals, 0);
            let block = &frame[lay.block_offset..lay.block_offset + lay.block_size];
            let s = decode_block(
                block,
                pmu,
                lay,
                &mut c.phasors[ph0..],
                &mut c.analogs[an0..],
                &mut c.digitals[dg0..],
            );
            c.time.push(t);
            c.freq.push(s.freq);
            c.rocof.push(s.rocof);
            c.stat.push(s.stat);
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    let mut stats = handler.stats;
    stats.bytes = data.len() as u64;
    // an unfinished frame at the end of a recording will never complete: its bytes are skipped
    stats.bytes_skipped = scan_stats.bytes_skipped + (data.len() - used) as u64;
    stats.crc_errors = scan_stats.crc_errors;
    stats.unknown_frames = scan_stats.unknown_frames;
    Ok(Batch { pmus: cols, stats })
}
