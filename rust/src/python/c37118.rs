//! Bindings for the C37.118 decoder: decoded frames and PMU values, the stream decoder and the batch
//! decoder (GIL released). Configurations are in `c37118_config.rs`, the encoders in
//! `c37118_encode.rs`; docstrings live in `_core.pyi`.

use numpy::{Complex64, PyArray1, PyArrayMethods};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyComplex, PyDict, PyList};

use super::c37118_config::{PyConfig, PyPmuConfig};
use super::{enter, guard, InputError};
use crate::c37118::batch::{decode_stream, PmuColumns};
use crate::c37118::{Body, Decoder, Frame, Phasor, Stat, Stats};

/// Call `f` with the bytes of a bytes object (no copy) or of any buffer of bytes (copied).
pub(crate) fn with_bytes<R>(
    obj: &Bound<'_, PyAny>,
    what: &str,
    f: impl FnOnce(&[u8]) -> PyResult<R>,
) -> PyResult<R> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return f(b.as_bytes());
    }
    let buf = PyBuffer::<u8>::get(obj).map_err(|_| {
        InputError::new_err(format!(
            "{what} must be bytes, bytearray or memoryview, got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    let owned = buf.to_vec(obj.py())?;
    f(&owned)
}

pub(crate) fn to_complex(obj: &Bound<'_, PyAny>) -> PyResult<Phasor> {
    if let Ok(c) = obj.cast::<PyComplex>() {
        return Ok(Phasor::new(c.real(), c.imag()));
    }
    if let Ok(x) = obj.extract::<f64>() {
        return Ok(Phasor::new(x, 0.0));
    }
    let c = obj.call_method0("__complex__").map_err(|_| {
        InputError::new_err(format!(
            "a phasor must be a complex number, got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    let c = c.cast::<PyComplex>()?;
    Ok(Phasor::new(c.real(), c.imag()))
}

#[pyclass(module = "gridtap._core", name = "C37118PmuData", frozen)]
pub struct PyPmuData {
    pub(crate) idcode: u16,
    pub(crate) stat: u16,
    pub(crate) freq: f64,
    pub(crate) rocof: f64,
    pub(crate) phasors: Vec<Phasor>,
    pub(crate) analogs: Vec<f64>,
    pub(crate) digitals: Vec<u16>,
}

#[pymethods]
impl PyPmuData {
    #[new]
    #[pyo3(signature = (phasors = None, freq = f64::NAN, rocof = f64::NAN, analogs = Vec::new(), digitals = Vec::new(), stat = 0, idcode = 0))]
    fn new(
        phasors: Option<Vec<Bound<'_, PyAny>>>,
        freq: f64,
        rocof: f64,
        analogs: Vec<f64>,
        digitals: Vec<i64>,
        stat: i64,
        idcode: i64,
    ) -> PyResult<Self> {
        let phasors = phasors
            .unwrap_or_default()
            .iter()
            .map(to_complex)
            .collect::<PyResult<Vec<_>>>()?;
        let word = |v: i64, what: &str| {
            u16::try_from(v)
                .map_err(|_| InputError::new_err(format!("{what} must be in 0..65535, got {v}")))
        };
        let digitals = digitals
            .into_iter()
            .map(|d| word(d, "a digital word"))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyPmuData {
            idcode: word(idcode, "idcode")?,
            stat: word(stat, "stat")?,
            freq,
            rocof,
            phasors,
            analogs,
            digitals,
        })
    }

    #[getter]
    fn idcode(&self) -> u16 {
        self.idcode
    }
    #[getter]
    fn stat(&self) -> u16 {
        self.stat
    }
    #[getter]
    fn freq(&self) -> f64 {
        self.freq
    }
    #[getter]
    fn rocof(&self) -> f64 {
        self.rocof
    }
    #[getter]
    fn phasors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            self.phasors
                .iter()
                .map(|p| PyComplex::from_doubles(py, p.re, p.im)),
        )
    }
    #[getter]
    fn analogs(&self) -> Vec<f64> {
        self.analogs.clone()
    }
    #[getter]
    fn digitals(&self) -> Vec<u16> {
        self.digitals.clone()
    }
    #[getter]
    fn data_error(&self) -> u8 {
        Stat(self.stat).data_error()
    }
    #[getter]
    fn sync_error(&self) -> bool {
        Stat(self.stat).sync_error()
    }
    #[getter]
    fn sorted_by_arrival(&self) -> bool {
        Stat(self.stat).sorted_by_arrival()
    }
    #[getter]
    fn trigger(&self) -> bool {
        Stat(self.stat).trigger()
    }
    #[getter]
    fn config_change(&self) -> bool {
        Stat(self.stat).config_change()
    }
    #[getter]
    fn data_modified(&self) -> bool {
        Stat(self.stat).data_modified()
    }
    #[getter]
    fn time_quality(&self) -> u8 {
        Stat(self.stat).time_quality()
    }
    #[getter]
    fn unlocked_time(&self) -> u8 {
        Stat(self.stat).unlocked_time()
    }
    #[getter]
    fn trigger_reason(&self) -> u8 {
        Stat(self.stat).trigger_reason()
    }

    fn __repr__(&self) -> String {
        format!(
            "C37118PmuData(idcode={}, stat={:#06x}, freq={:?}, rocof={:?}, phasors={}, analogs={:?}, digitals={:?})",
            self.idcode,
            self.stat,
            self.freq,
            self.rocof,
            self.phasors.len(),
            self.analogs,
            self.digitals
        )
    }
}

#[pyclass(module = "gridtap._core", name = "C37118Frame", frozen)]
pub struct PyFrame {
    frame: Frame,
}

#[pymethods]
impl PyFrame {
    #[getter]
    fn r#type(&self) -> &'static str {
        self.frame.info.frame_type.name()
    }
    #[getter]
    fn version(&self) -> u8 {
        self.frame.info.version
    }
    #[getter]
    fn idcode(&self) -> u16 {
        self.frame.info.idcode
    }
    #[getter]
    fn size(&self) -> u16 {
        self.frame.info.size
    }
    #[getter]
    fn soc(&self) -> u32 {
        self.frame.info.timestamp.soc
    }
    #[getter]
    fn fraction(&self) -> u32 {
        self.frame.info.timestamp.fraction
    }
    #[getter]
    fn time(&self) -> f64 {
        self.frame.info.time()
    }
    #[getter]
    fn time_quality(&self) -> u8 {
        self.frame.info.timestamp.time_quality()
    }
    #[getter]
    fn leap_pending(&self) -> bool {
        self.frame.info.timestamp.leap_pending()
    }
    #[getter]
    fn leap_occurred(&self) -> bool {
        self.frame.info.timestamp.leap_occurred()
    }
    #[getter]
    fn leap_delete(&self) -> bool {
        self.frame.info.timestamp.leap_delete()
    }
    #[getter]
    fn pmus(&self) -> Vec<PyPmuData> {
        let Body::Data { config, values } = &self.frame.body else {
            return Vec::new();
        };
        config
            .pmus()
            .iter()
            .zip(config.layouts())
            .zip(&values.pmus)
            .map(|((p, lay), s)| PyPmuData {
                idcode: p.idcode,
                stat: s.stat,
                freq: s.freq,
                rocof: s.rocof,
                phasors: values.phasors[lay.phasor_start..lay.phasor_start + p.phasors.len()]
                    .to_vec(),
                analogs: values.analogs[lay.analog_start..lay.analog_start + p.analogs.len()]
                    .to_vec(),
                digitals: values.digitals[lay.digital_start..lay.digital_start + p.digital_words()]
                    .to_vec(),
            })
            .collect()
    }
    #[getter]
    fn config(&self) -> Option<PyConfig> {
        match &self.frame.body {
            Body::Config(c) => Some(PyConfig { inner: c.clone() }),
            _ => None,
        }
    }
    #[getter]
    fn command(&self) -> Option<u16> {
        match &self.frame.body {
            Body::Command { command, .. } => Some(*command),
            _ => None,
        }
    }
    #[getter]
    fn extended<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        match &self.frame.body {
            Body::Command { extended, .. } => PyBytes::new(py, extended),
            _ => PyBytes::new(py, b""),
        }
    }
    #[getter]
    fn text(&self) -> Option<String> {
        match &self.frame.body {
            Body::Header(t) => Some(String::from_utf8_lossy(t).into_owned()),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        let i = &self.frame.info;
        format!(
            "C37118Frame(type='{}', version={}, idcode={}, time={:?})",
            i.frame_type.name(),
            i.version,
            i.idcode,
            i.time()
        )
    }
}

fn stats_dict<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in s.items() {
        d.set_item(k, v)?;
    }
    Ok(d)
}

#[pyclass(module = "gridtap._core", name = "C37118Decoder")]
pub struct PyDecoder {
    inner: Decoder,
    frames: Vec<Frame>,
}

#[pymethods]
impl PyDecoder {
    #[new]
    #[pyo3(signature = (config = None))]
    fn new(config: Option<PyRef<'_, PyConfig>>) -> Self {
        PyDecoder {
            inner: Decoder::new(config.map(|c| c.inner.clone())),
            frames: Vec::new(),
        }
    }

    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (inner, frames) = (&mut self.inner, &mut self.frames);
        frames.clear();
        with_bytes(data, "data", |bytes| {
            guard(|| {
                inner.feed(bytes, frames);
                Ok(())
            })
        })?;
        let list = PyList::empty(py);
        for frame in frames.drain(..) {
            list.append(Py::new(py, PyFrame { frame })?)?;
        }
        Ok(list)
    }

    fn use_config(&mut self, config: PyRef<'_, PyConfig>) {
        self.inner.use_config(config.inner.clone());
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    #[getter]
    fn config(&self) -> Option<PyConfig> {
        self.inner.config().map(|c| PyConfig { inner: c.clone() })
    }

    #[getter]
    fn configs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let mut ids: Vec<&u16> = self.inner.configs().keys().collect();
        ids.sort();
        for id in ids {
            let c = PyConfig {
                inner: self.inner.configs()[id].clone(),
            };
            d.set_item(*id, Py::new(py, c)?)?;
        }
        Ok(d)
    }

    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.inner.stats())
    }

    fn __repr__(&self) -> String {
        let s = self.inner.stats();
        format!(
            "C37118Decoder(data={}, configs={}, buffered={}, bytes_skipped={}, crc_errors={})",
            s.data,
            self.inner.configs().len(),
            self.inner.buffered(),
            s.bytes_skipped,
            s.crc_errors
        )
    }
}

/// The phasors as numpy's complex128 elements, without a copy: both are two f64, re then im.
fn phasors_as_complex(v: Vec<Phasor>) -> Vec<Complex64> {
    const _: () = assert!(
        std::mem::size_of::<Phasor>() == std::mem::size_of::<Complex64>()
            && std::mem::align_of::<Phasor>() == std::mem::align_of::<Complex64>()
    );
    let mut v = std::mem::ManuallyDrop::new(v);
    let (ptr, len, cap) = (v.as_mut_ptr(), v.len(), v.capacity());
    // Safety: Phasor and num_complex::Complex<f64> are both #[repr(C)] { re: f64, im: f64 } (same
    // size and alignment, checked above), so the allocation is valid for either element type.
    unsafe { Vec::from_raw_parts(ptr as *mut Complex64, len, cap) }
}

fn columns_dict<'py>(py: Python<'py>, c: PmuColumns) -> PyResult<Bound<'py, PyDict>> {
    let n = c.time.len();
    let d = PyDict::new(py);
    d.set_item("time", PyArray1::from_vec(py, c.time))?;
    d.set_item("freq", PyArray1::from_vec(py, c.freq))?;
    d.set_item("rocof", PyArray1::from_vec(py, c.rocof))?;
    d.set_item("stat", PyArray1::from_vec(py, c.stat))?;
    let phasors = phasors_as_complex(c.phasors);
    d.set_item(
        "phasors",
        PyArray1::from_vec(py, phasors).reshape([n, c.n_phasors])?,
    )?;
    d.set_item(
        "analogs",
        PyArray1::from_vec(py, c.analogs).reshape([n, c.n_analogs])?,
    )?;
    d.set_item(
        "digitals",
        PyArray1::from_vec(py, c.digitals).reshape([n, c.n_digitals])?,
    )?;
    Ok(d)
}

#[pyfunction]
#[pyo3(signature = (data, config = None))]
fn decode_c37118<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    config: Option<PyRef<'py, PyConfig>>,
) -> PyResult<Bound<'py, PyDict>> {
    let config = config.map(|c| c.inner.clone());
    let batch = with_bytes(data, "data", |bytes| {
        enter(py, || decode_stream(bytes, config))
    })?;
    let out = PyDict::new(py);
    for c in batch.pmus {
        let id = c.idcode;
        out.set_item(id, columns_dict(py, c)?)?;
    }
    Ok(out)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPmuConfig>()?;
    m.add_class::<PyConfig>()?;
    m.add_class::<PyPmuData>()?;
    m.add_class::<PyFrame>()?;
    m.add_class::<PyDecoder>()?;
    m.add_function(wrap_pyfunction!(decode_c37118, m)?)?;
    super::c37118_encode::register(m)?;
    Ok(())
}
