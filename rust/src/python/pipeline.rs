//! Bindings for compiled profiles, stateless frame decoding and `MeterPipeline`.

use numpy::{PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use std::sync::Arc;

use pyo3::types::PyDict;

use super::output_block;
use super::values::{ChannelValues, Layout};
use super::{enter, guard, pipeline_state, with_f64, with_u16, InputError};
use crate::channel::{self, NCH};
use crate::fallback::{Source, SOURCED};
use crate::pipeline::{self, PipelineConfig};
use crate::profile::{self, ApparentMode, FieldSpec};
use crate::registers::{DType, Sentinel, WordOrder};
use crate::rocof::{RocofConfig, RocofMethod};

/// (channel, offset, dtype, word_order, scale, sf_offset, sentinels, negate, abs, min, max, block)
type FieldTuple = (
    String,
    usize,
    String,
    String,
    f64,
    Option<usize>,
    Vec<String>,
    bool,
    bool,
    f64,
    f64,
    usize,
);

fn field_from_tuple(t: FieldTuple) -> crate::Result<FieldSpec> {
    let (name, offset, dtype, order, scale, sf_offset, sentinels, negate, abs, min, max, block) = t;
    let ch = channel::index(&name)
        .ok_or_else(|| crate::Error::Input(format!("unknown channel {name:?}")))?;
    let sentinels = sentinels
        .iter()
        .map(|s| Sentinel::parse(s))
        .collect::<crate::Result<Vec<_>>>()?;
    Ok(FieldSpec::new(
        ch,
        offset,
        DType::parse(&dtype)?,
        WordOrder::parse(&order)?,
        scale,
        sf_offset,
        sentinels,
        negate,
        abs,
        min,
        max,
        block,
    ))
}

fn parse_apparent(name: Option<&str>) -> crate::Result<Option<ApparentMode>> {
    Ok(match name {
        None | Some("auto") => None,
        Some("arithmetic") => Some(ApparentMode::Arithmetic),
        Some("vector") => Some(ApparentMode::Vector),
        Some("meter") => Some(ApparentMode::Meter),
        Some(other) => {
            return Err(crate::Error::Input(format!(
                "apparent_power {other:?}: expected auto, arithmetic, vector or meter"
            )))
        }
    })
}

/// The register map of a profile, checked and compiled for the per-frame kernels.
#[pyclass(module = "gridtap._core", frozen)]
pub struct CompiledProfile {
    inner: profile::CompiledProfile,
}

#[pymethods]
impl CompiledProfile {
    #[new]
    #[pyo3(signature = (frame_length, blocks, fields, apparent_power = None))]
    fn new(
        frame_length: usize,
        blocks: Vec<(usize, usize)>,
        fields: Vec<FieldTuple>,
        apparent_power: Option<&str>,
    ) -> PyResult<Self> {
        guard(|| {
            let fields = fields
                .into_iter()
                .map(field_from_tuple)
                .collect::<crate::Result<Vec<_>>>()?;
            let apparent = parse_apparent(apparent_power)?;
            Ok(CompiledProfile {
                inner: profile::CompiledProfile::new(frame_length, blocks, fields, apparent)?,
            })
        })
    }

    #[getter]
    fn frame_length(&self) -> usize {
        self.inner.frame_length
    }

    /// Channels a pipeline over this profile produces (read from the meter or derived).
    #[getter]
    fn channels(&self) -> Vec<&'static str> {
        (0..NCH)
            .filter(|&c| self.inner.available[c])
            .map(pipeline::channel_name)
            .collect()
    }

    /// Channels read from the meter's registers.
    #[getter]
    fn meter_channels(&self) -> Vec<&'static str> {
        (0..NCH)
            .filter(|&c| self.inner.from_meter[c])
            .map(pipeline::channel_name)
            .collect()
    }

    /// [(channel, indices of the read blocks its value depends on)] for the produced channels;
    /// `invert` as the pipeline will use it (it swaps the counters' registers).
    #[pyo3(signature = (invert = false))]
    fn channel_blocks(&self, invert: bool) -> Vec<(&'static str, Vec<usize>)> {
        let b = self.inner.channel_blocks(invert);
        (0..NCH)
            .filter(|&c| self.inner.available[c])
            .map(|c| {
                let blocks = (0..64).filter(|i| b[c] >> i & 1 == 1).collect();
                (pipeline::channel_name(c), blocks)
            })
            .collect()
    }

    /// How ApparentPower is formed: "arithmetic", "vector" or "meter".
    #[getter]
    fn apparent_power(&self) -> &'static str {
        self.inner.apparent.name()
    }
}

fn compiled_of(obj: &Bound<'_, PyAny>) -> PyResult<profile::CompiledProfile> {
    if let Ok(c) = obj.cast::<CompiledProfile>() {
        return Ok(c.get().inner.clone());
    }
    let attr =
        obj.getattr("compiled").map_err(|_| {
            InputError::new_err(format!(
            "expected a gridtap Profile (gridtap.profiles.load(...)) or CompiledProfile, got {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
        })?;
    let c = attr
        .cast::<CompiledProfile>()
        .map_err(|_| InputError::new_err("profile.compiled is not a CompiledProfile"))?;
    Ok(c.get().inner.clone())
}

/// Fill one (channels × n) float64 block with `fill(columns)` and return {channel: row view}.
/// One allocation for all channels; a large one is an `output_block` (64-byte aligned rows, its
/// memory kept for the next call).
fn columns_dict<'py>(
    py: Python<'py>,
    chans: &[usize],
    n: usize,
    fill: impl FnOnce(&mut [&mut [f64]]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyDict>> {
    let block = if chans.len() * n * 8 >= output_block::BLOCK_FROM_BYTES {
        output_block::rows(py, chans.len(), n, fill)?
    } else {
        // Safety: every element is written by `fill` before the array is returned (the kernels
        // write each output column in full or fail, and on failure the array is dropped).
        let block = unsafe { PyArray2::<f64>::new(py, [chans.len(), n], false) };
        {
            let mut rw = block.readwrite();
            let flat = rw
                .as_slice_mut()
                .map_err(|e| InputError::new_err(e.to_string()))?;
            let mut outs: Vec<&mut [f64]> = if n == 0 {
                chans.iter().map(|_| <&mut [f64]>::default()).collect()
            } else {
                flat.chunks_mut(n).collect()
            };
            fill(&mut outs)?;
        }
        block
    };
    let d = PyDict::new(py);
    for (i, &ch) in chans.iter().enumerate() {
        d.set_item(pipeline::channel_name(ch), block.get_item(i)?)?;
    }
    Ok(d)
}

/// Decode frames (a 1-D frame or frames × registers) into standard channels, statelessly.
#[pyfunction]
#[pyo3(signature = (profile, registers, invert = false))]
fn decode<'py>(
    py: Python<'py>,
    profile: &Bound<'py, PyAny>,
    registers: &Bound<'py, PyAny>,
    invert: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let p = compiled_of(profile)?;
    let chans = pipeline::decoded_channels(&p);
    with_u16(registers, "registers", |words, shape| {
        check_frame_shape(shape, p.frame_length)?;
        let n = words.len() / p.frame_length;
        columns_dict(py, &chans, n, |outs| {
            enter(py, || pipeline::decode_frames(&p, words, invert, outs))
        })
    })
}

fn check_frame_shape(shape: &[usize], fl: usize) -> PyResult<()> {
    let last = shape.last().copied().unwrap_or(0);
    if shape.is_empty() || shape.len() > 2 || last != fl {
        return Err(InputError::new_err(format!(
            "registers have shape {shape:?}, expected ({fl},) for one frame or (n, {fl}) for n frames"
        )));
    }
    Ok(())
}

/// Registers → standard channels, frame by frame, with RoCoF and energy where the meter lacks them.
#[pyclass(module = "gridtap._core")]
pub struct MeterPipeline {
    inner: pipeline::MeterPipeline,
    chans: Vec<usize>,
    layout: Arc<Layout>,
}

#[pymethods]
impl MeterPipeline {
    #[new]
    #[pyo3(signature = (profile, invert = false, *, rocof_window = 0.5, rocof_method = "least_squares", rocof_smoothing = 0.0, max_gap = 60.0))]
    fn new(
        py: Python<'_>,
        profile: &Bound<'_, PyAny>,
        invert: bool,
        rocof_window: f64,
        rocof_method: &str,
        rocof_smoothing: f64,
        max_gap: f64,
    ) -> PyResult<Self> {
        let p = compiled_of(profile)?;
        let inner = guard(|| {
            let method = match rocof_method {
                "least_squares" => RocofMethod::LeastSquares,
                "window_average" => RocofMethod::WindowAverage,
                other => {
                    return Err(crate::Error::Input(format!(
                        "rocof_method {other:?}: expected least_squares or window_average"
                    )))
                }
            };
            let cfg = PipelineConfig {
                invert,
                rocof: RocofConfig {
                    window: rocof_window,
                    method,
                    smoothing: rocof_smoothing,
                },
                max_gap,
            };
            pipeline::MeterPipeline::new(p, cfg)
        })?;
        let chans = inner.channels();
        let layout = Layout::new(py, chans.clone())?;
        Ok(MeterPipeline {
            inner,
            chans,
            layout,
        })
    }

    /// One frame at `timestamp`: {channel: value or None (no valid value)}.
    /// `block_ok` (one bool per read block) marks blocks that were not read successfully.
    #[pyo3(signature = (timestamp, registers, block_ok = None))]
    fn push<'py>(
        &mut self,
        timestamp: f64,
        registers: &Bound<'py, PyAny>,
        block_ok: Option<Vec<bool>>,
    ) -> PyResult<ChannelValues> {
        let mut v = [f64::NAN; NCH];
        let fl = self.inner.profile.frame_length;
        let inner = &mut self.inner;
        with_u16(registers, "registers", |words, shape| {
            if shape.len() != 1 || shape[0] != fl {
                return Err(InputError::new_err(format!(
                    "one frame has shape {shape:?}, expected ({fl},); use push_many for several frames"
                )));
            }
            guard(|| inner.push(timestamp, words, block_ok.as_deref(), &mut v))
        })?;
        Ok(ChannelValues::new(self.layout.clone(), v))
    }

    /// Many frames (frames × registers, with increasing timestamps): {channel: float64 array},
    /// NaN where a value is invalid. Identical to pushing the frames one by one.
    #[pyo3(signature = (timestamps, registers, block_ok = None))]
    fn push_many<'py>(
        &mut self,
        py: Python<'py>,
        timestamps: &Bound<'py, PyAny>,
        registers: &Bound<'py, PyAny>,
        block_ok: Option<Vec<bool>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let fl = self.inner.profile.frame_length;
        let inner = &mut self.inner;
        let chans = &self.chans;
        with_f64(timestamps, "timestamps", |ts| {
            with_u16(registers, "registers", |words, shape| {
                if shape.len() != 2 || shape[1] != fl || shape[0] != ts.len() {
                    return Err(InputError::new_err(format!(
                        "registers have shape {shape:?}, expected ({}, {fl}) for {} timestamps",
                        ts.len(),
                        ts.len()
                    )));
                }
                columns_dict(py, chans, ts.len(), |outs| {
                    enter(py, || inner.push_many(ts, words, block_ok.as_deref(), outs))
                })
            })
        })
    }

    #[getter]
    fn channels(&self) -> Vec<&'static str> {
        self.chans
            .iter()
            .map(|&c| pipeline::channel_name(c))
            .collect()
    }

    #[getter]
    fn invert(&self) -> bool {
        self.inner.invert
    }

    #[getter]
    fn frame_length(&self) -> usize {
        self.inner.profile.frame_length
    }

    #[getter]
    fn last_timestamp(&self) -> Option<f64> {
        self.inner.last_timestamp()
    }

    /// Meter counter wraps seen (a counter passing its register's maximum).
    #[getter]
    fn counter_wraps(&self) -> u64 {
        self.inner.counter_wraps()
    }

    /// Meter counter resets seen (a drop that is not a wrap); published counters stay monotonic.
    #[getter]
    fn counter_resets(&self) -> u64 {
        self.inner.counter_resets()
    }

    /// {channel: source} of the aggregated channels in the latest frame pushed: "meter",
    /// "phases", "vector", "ratio" or "none" (no valid value). Empty before the first frame.
    #[getter]
    fn sources<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if self.inner.last_timestamp().is_none() {
            return Ok(d);
        }
        let stats = self.inner.sources();
        let tracked = self.inner.tracked_sources();
        for (i, &c) in SOURCED.iter().enumerate().filter(|&(i, _)| tracked[i]) {
            d.set_item(pipeline::channel_name(c), stats.last[i].name())?;
        }
        Ok(d)
    }

    /// {channel: {source: frames}} since the pipeline was created, for the aggregated channels.
    #[getter]
    fn source_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let stats = self.inner.sources();
        let tracked = self.inner.tracked_sources();
        for (i, &c) in SOURCED.iter().enumerate().filter(|&(i, _)| tracked[i]) {
            let counts = PyDict::new(py);
            for s in Source::ALL {
                let n = stats.counts[i][s as usize];
                if n > 0 {
                    counts.set_item(s.name(), n)?;
                }
            }
            d.set_item(pipeline::channel_name(c), counts)?;
        }
        Ok(d)
    }

    /// What must survive a restart (meter counters, integrated totals), as a JSON-ready dict.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        pipeline_state::to_dict(py, &self.inner, self.channels())
    }

    /// Continue from `state()` of an earlier pipeline over the same profile; checked first, on
    /// error nothing changes.
    fn restore_state(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let saved = pipeline_state::from_dict(state, &self.inner, self.channels())?;
        guard(|| self.inner.restore_state(&saved))
    }

    /// Frames that came before the previous one (the wall clock stepped back): the RoCoF window
    /// and the energy integration started again there, as after a gap.
    #[getter]
    fn clock_steps(&self) -> u64 {
        self.inner.clock_steps()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CompiledProfile>()?;
    m.add_class::<MeterPipeline>()?;
    m.add_class::<ChannelValues>()?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add("CHANNEL_SLOTS", channel::NAMES.to_vec())?;
    Ok(())
}
