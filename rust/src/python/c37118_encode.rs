//! Bindings for the C37.118 encoders (for the simulator and tests): configuration, data, command
//! and header frames. Docstrings live in `_core.pyi`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use super::c37118::PyPmuData;
use super::c37118_config::PyConfig;
use super::{guard, InputError};
use crate::c37118::decoder::DEFAULT_TIME_BASE;
use crate::c37118::{command, encode, header_frame, Config, FrameType, PmuSample, Timestamp};

/// A frame timestamp: epoch seconds (float) or exactly (SOC, fraction).
fn timestamp(obj: &Bound<'_, PyAny>, time_base: u32) -> PyResult<Timestamp> {
    if let Ok(t) = obj.cast::<PyTuple>() {
        let (soc, fraction): (i64, i64) = t.extract().map_err(|_| {
            InputError::new_err("time as a tuple must be (SOC, fraction), two integers")
        })?;
        return guard(|| Timestamp::from_parts(soc, fraction, time_base));
    }
    let t: f64 = obj.extract().map_err(|_| {
        InputError::new_err("time must be epoch seconds (a float) or (SOC, fraction)")
    })?;
    guard(|| Timestamp::from_seconds(t, time_base))
}

fn version_u8(version: i64) -> PyResult<u8> {
    guard(|| {
        let v = u8::try_from(version).unwrap_or(0);
        crate::c37118::common::check_version(v).map(|_| v)
    })
}

fn flags(
    ts: Timestamp,
    time_quality: i64,
    leap_pending: bool,
    leap_occurred: bool,
    leap_delete: bool,
) -> PyResult<Timestamp> {
    guard(|| {
        let tq = u8::try_from(time_quality).unwrap_or(u8::MAX);
        ts.with_flags(tq, leap_pending, leap_occurred, leap_delete)
    })
}

#[pyfunction]
#[pyo3(signature = (config, time, *, r#type = "cfg2", version = 2, max_frame_size = 65535, time_quality = 0, leap_pending = false, leap_occurred = false, leap_delete = false))]
#[allow(clippy::too_many_arguments)]
fn encode_c37118_config<'py>(
    py: Python<'py>,
    config: PyRef<'py, PyConfig>,
    time: &Bound<'py, PyAny>,
    r#type: &str,
    version: i64,
    max_frame_size: i64,
    time_quality: i64,
    leap_pending: bool,
    leap_occurred: bool,
    leap_delete: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let cfg: &Config = &config.inner;
    let ts = timestamp(time, cfg.time_base())?;
    let ts = flags(ts, time_quality, leap_pending, leap_occurred, leap_delete)?;
    let version = version_u8(version)?;
    let mut out = Vec::new();
    guard(|| {
        let t = FrameType::parse(r#type)?;
        let max = usize::try_from(max_frame_size).unwrap_or(0);
        encode::config_frames(&mut out, cfg, t, version, ts, max)
    })?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
#[pyo3(signature = (config, time, pmus, *, version = 2, time_quality = 0, leap_pending = false, leap_occurred = false, leap_delete = false))]
#[allow(clippy::too_many_arguments)]
fn encode_c37118_data<'py>(
    py: Python<'py>,
    config: PyRef<'py, PyConfig>,
    time: &Bound<'py, PyAny>,
    pmus: Vec<PyRef<'py, PyPmuData>>,
    version: i64,
    time_quality: i64,
    leap_pending: bool,
    leap_occurred: bool,
    leap_delete: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let cfg: &Config = &config.inner;
    let ts = timestamp(time, cfg.time_base())?;
    let ts = flags(ts, time_quality, leap_pending, leap_occurred, leap_delete)?;
    let version = version_u8(version)?;
    let samples: Vec<PmuSample> = pmus
        .iter()
        .map(|p| PmuSample {
            stat: p.stat,
            freq: p.freq,
            rocof: p.rocof,
            phasors: &p.phasors,
            analogs: &p.analogs,
            digitals: &p.digitals,
        })
        .collect();
    let mut out = Vec::with_capacity(cfg.data_frame_size());
    guard(|| encode::data_frame(&mut out, cfg, version, ts, &samples))?;
    Ok(PyBytes::new(py, &out))
}

fn idcode_u16(idcode: i64) -> PyResult<u16> {
    match u16::try_from(idcode) {
        Ok(v) if (1..=65534).contains(&v) => Ok(v),
        _ => Err(InputError::new_err(format!(
            "idcode must be in 1..65534, got {idcode}"
        ))),
    }
}

fn time_base_u32(time_base: i64) -> PyResult<u32> {
    let tb = u32::try_from(time_base).unwrap_or(0);
    guard(|| crate::c37118::common::check_time_base(tb).map(|_| tb))
}

#[pyfunction]
#[pyo3(signature = (idcode, command, time, *, version = 2, extended = None, time_base = DEFAULT_TIME_BASE as i64, time_quality = 0, leap_pending = false, leap_occurred = false, leap_delete = false))]
#[allow(clippy::too_many_arguments)]
fn encode_c37118_command<'py>(
    py: Python<'py>,
    idcode: i64,
    command: i64,
    time: &Bound<'py, PyAny>,
    version: i64,
    extended: Option<Vec<u8>>,
    time_base: i64,
    time_quality: i64,
    leap_pending: bool,
    leap_occurred: bool,
    leap_delete: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let idcode = idcode_u16(idcode)?;
    let cmd = u16::try_from(command)
        .map_err(|_| InputError::new_err(format!("command must be in 0..65535, got {command}")))?;
    let ts = timestamp(time, time_base_u32(time_base)?)?;
    let ts = flags(ts, time_quality, leap_pending, leap_occurred, leap_delete)?;
    let version = version_u8(version)?;
    let mut out = Vec::new();
    guard(|| {
        command::encode(
            &mut out,
            version,
            idcode,
            ts,
            cmd,
            &extended.unwrap_or_default(),
        )
    })?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
#[pyo3(signature = (idcode, text, time, *, version = 2, time_base = DEFAULT_TIME_BASE as i64, time_quality = 0, leap_pending = false, leap_occurred = false, leap_delete = false))]
#[allow(clippy::too_many_arguments)]
fn encode_c37118_header<'py>(
    py: Python<'py>,
    idcode: i64,
    text: &str,
    time: &Bound<'py, PyAny>,
    version: i64,
    time_base: i64,
    time_quality: i64,
    leap_pending: bool,
    leap_occurred: bool,
    leap_delete: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let idcode = idcode_u16(idcode)?;
    let ts = timestamp(time, time_base_u32(time_base)?)?;
    let ts = flags(ts, time_quality, leap_pending, leap_occurred, leap_delete)?;
    let version = version_u8(version)?;
    let mut out = Vec::new();
    guard(|| header_frame::encode(&mut out, version, idcode, ts, text.as_bytes()))?;
    Ok(PyBytes::new(py, &out))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_c37118_config, m)?)?;
    m.add_function(wrap_pyfunction!(encode_c37118_data, m)?)?;
    m.add_function(wrap_pyfunction!(encode_c37118_command, m)?)?;
    m.add_function(wrap_pyfunction!(encode_c37118_header, m)?)?;
    Ok(())
}
