//! Bindings for the signal-processing kernels (RoCoF, loss-of-mains trip, energy integration,
//! counter tracking). Each class owns one kernel; checks and loops run in Rust without the GIL, and
//! a rejected chunk leaves the object as it was. Docstrings live in `_core.pyi`.

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList};

use super::pipeline_state::{energy_dict, energy_of};
use super::{dtype_name, enter, guard, new_f64_array, with_f64, InputError};
use crate::counter::{CounterState, CounterTracker};
use crate::energy::PhaseEnergyIntegrator;
use crate::rocof::{RocofConfig, RocofEstimator, RocofMethod, RocofTrip};

#[pyclass(module = "gridtap._core", name = "RocofEstimator")]
pub struct PyRocofEstimator {
    inner: RocofEstimator,
}

#[pymethods]
impl PyRocofEstimator {
    #[new]
    #[pyo3(signature = (window = 0.5, method = "least_squares", smoothing = 0.0))]
    fn new(window: f64, method: &str, smoothing: f64) -> PyResult<Self> {
        let inner = guard(|| {
            RocofEstimator::new(RocofConfig {
                window,
                method: RocofMethod::parse(method)?,
                smoothing,
            })
        })?;
        Ok(PyRocofEstimator { inner })
    }

    fn update<'py>(
        &mut self,
        py: Python<'py>,
        timestamps: &Bound<'py, PyAny>,
        frequency: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let inner = &mut self.inner;
        with_f64(timestamps, "timestamps", |ts| {
            with_f64(frequency, "frequency", |fs| {
                new_f64_array(py, ts.len(), |out| {
                    enter(py, || inner.update_into(ts, fs, out))
                })
            })
        })
    }

    /// `update` with one sample, without arrays (a stream's per-frame path): its estimate.
    fn push(&mut self, timestamp: f64, frequency: f64) -> PyResult<f64> {
        let inner = &mut self.inner;
        let mut out = [f64::NAN];
        // one sample: not worth releasing the GIL for
        guard(|| inner.update_into(&[timestamp], &[frequency], &mut out))?;
        Ok(out[0])
    }

    #[getter]
    fn window(&self) -> f64 {
        self.inner.config().window
    }

    #[getter]
    fn method(&self) -> &'static str {
        self.inner.config().method.name()
    }

    #[getter]
    fn smoothing(&self) -> f64 {
        self.inner.config().smoothing
    }

    #[getter]
    fn group_delay(&self) -> f64 {
        self.inner.group_delay()
    }

    #[getter]
    fn last_timestamp(&self) -> Option<f64> {
        self.inner.last_timestamp()
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "RocofEstimator(window={:?}, method='{}', smoothing={:?})",
            c.window,
            c.method.name(),
            c.smoothing
        )
    }
}

#[pyclass(module = "gridtap._core", name = "RocofTrip")]
pub struct PyRocofTrip {
    inner: RocofTrip,
}

#[pymethods]
impl PyRocofTrip {
    #[new]
    fn new(threshold: f64, delay: f64) -> PyResult<Self> {
        let inner = guard(|| RocofTrip::new(threshold, delay))?;
        Ok(PyRocofTrip { inner })
    }

    fn update<'py>(
        &mut self,
        py: Python<'py>,
        timestamps: &Bound<'py, PyAny>,
        rocof: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let inner = &mut self.inner;
        let out = with_f64(timestamps, "timestamps", |ts| {
            with_f64(rocof, "rocof", |rs| enter(py, || inner.update(ts, rs)))
        })?;
        Ok(PyArray1::from_vec(py, out))
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    #[getter]
    fn tripped(&self) -> bool {
        self.inner.tripped()
    }

    #[getter]
    fn trip_time(&self) -> Option<f64> {
        self.inner.trip_time()
    }

    #[getter]
    fn threshold(&self) -> f64 {
        self.inner.threshold()
    }

    #[getter]
    fn delay(&self) -> f64 {
        self.inner.delay()
    }

    #[getter]
    fn last_timestamp(&self) -> Option<f64> {
        self.inner.last_timestamp()
    }

    fn __repr__(&self) -> String {
        format!(
            "RocofTrip(threshold={:?}, delay={:?}, tripped={})",
            self.inner.threshold(),
            self.inner.delay(),
            if self.inner.tripped() {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// Call `f` with a float64 array of 1 dimension (a total: one column) or 2 (samples × phases) as
/// row-major values, its row count and its column count. Copies only arrays that are not
/// C-contiguous (a Fortran-ordered block is read in row order, not as its memory lies).
fn with_block<R>(
    obj: &Bound<'_, PyAny>,
    what: &str,
    f: impl FnOnce(&[f64], usize, usize) -> PyResult<R>,
) -> PyResult<R> {
    let arr = obj.cast::<PyArrayDyn<f64>>().map_err(|_| {
        InputError::new_err(format!(
            "{what} must be a numpy float64 array (1-D total or 2-D samples × phases), got {}",
            dtype_name(obj)
        ))
    })?;
    let shape = arr.shape().to_vec();
    let (rows, cols) = match shape[..] {
        [n] => (n, 1),
        [n, k] => (n, k),
        _ => {
            return Err(InputError::new_err(format!(
                "{what} has {} dimensions (shape {shape:?}); expected 1 (total) or 2 (samples × phases)",
                shape.len()
            )))
        }
    };
    let ro = arr.readonly();
    if arr.is_c_contiguous() {
        if let Ok(s) = ro.as_slice() {
            return f(s, rows, cols);
        }
    }
    let owned: Vec<f64> = ro.as_array().iter().copied().collect();
    f(&owned, rows, cols)
}

#[pyclass(module = "gridtap._core", name = "EnergyIntegrator")]
pub struct PyEnergyIntegrator {
    active: PhaseEnergyIntegrator,
    reactive: PhaseEnergyIntegrator,
}

#[pymethods]
impl PyEnergyIntegrator {
    #[new]
    #[pyo3(signature = (max_gap = 60.0, compensated = true))]
    fn new(max_gap: f64, compensated: bool) -> PyResult<Self> {
        let (active, reactive) = guard(|| {
            Ok((
                PhaseEnergyIntegrator::new(max_gap, compensated)?,
                PhaseEnergyIntegrator::new(max_gap, compensated)?,
            ))
        })?;
        Ok(PyEnergyIntegrator { active, reactive })
    }

    #[pyo3(signature = (timestamps, power_w, reactive_var = None))]
    fn update(
        &mut self,
        py: Python<'_>,
        timestamps: &Bound<'_, PyAny>,
        power_w: &Bound<'_, PyAny>,
        reactive_var: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (active, reactive) = (&mut self.active, &mut self.reactive);
        with_f64(timestamps, "timestamps", |ts| {
            with_block(power_w, "power_w", |p, rows, cols| match reactive_var {
                None => enter(py, || {
                    *active = active.integrated(ts, p, cols, "power_w")?;
                    Ok(())
                }),
                Some(q) => with_block(q, "reactive_var", |q, q_rows, q_cols| {
                    if (q_rows, q_cols) != (rows, cols) {
                        return Err(InputError::new_err(format!(
                            "reactive_var has {q_rows} × {q_cols} values but power_w has \
                             {rows} × {cols}; expected the same shape"
                        )));
                    }
                    enter(py, || {
                        // both are integrated into copies, committed only if both were accepted
                        let next_active = active.integrated(ts, p, cols, "power_w")?;
                        let next_reactive = reactive.integrated(ts, q, cols, "reactive_var")?;
                        *active = next_active;
                        *reactive = next_reactive;
                        Ok(())
                    })
                }),
            })
        })
    }

    /// `update` with one sample of total power, without arrays (a stream's per-frame path):
    /// (import_kwh, export_kwh, reactive_import_kvarh, reactive_export_kvarh) after it.
    #[pyo3(signature = (timestamp, power_w, reactive_var = None))]
    fn push(
        &mut self,
        timestamp: f64,
        power_w: f64,
        reactive_var: Option<f64>,
    ) -> PyResult<(f64, f64, f64, f64)> {
        let (active, reactive) = (&mut self.active, &mut self.reactive);
        guard(|| {
            // a valid sample, as nearly every frame of a stream is: integrated in place
            if active.accepts_one(timestamp, power_w)
                && reactive_var.is_none_or(|q| reactive.accepts_one(timestamp, q))
            {
                active.step_one(timestamp, power_w)?;
                if let Some(q) = reactive_var {
                    reactive.step_one(timestamp, q)?;
                }
                return Ok(());
            }
            // else the checked path: nothing changes unless both are taken, and the error says why
            let ts = [timestamp];
            let next_active = active.integrated(&ts, &[power_w], 1, "power_w")?;
            if let Some(q) = reactive_var {
                *reactive = reactive.integrated(&ts, &[q], 1, "reactive_var")?;
            }
            *active = next_active;
            Ok(())
        })?;
        Ok((
            self.active.import_kwh(),
            self.active.export_kwh(),
            self.reactive.import_kwh(),
            self.reactive.export_kwh(),
        ))
    }

    #[getter]
    fn import_kwh(&self) -> f64 {
        self.active.import_kwh()
    }

    #[getter]
    fn export_kwh(&self) -> f64 {
        self.active.export_kwh()
    }

    #[getter]
    fn import_kwh_phases(&self) -> Vec<f64> {
        self.active
            .phases()
            .iter()
            .map(|p| p.import_kwh())
            .collect()
    }

    #[getter]
    fn export_kwh_phases(&self) -> Vec<f64> {
        self.active
            .phases()
            .iter()
            .map(|p| p.export_kwh())
            .collect()
    }

    #[getter]
    fn reactive_import_kvarh(&self) -> f64 {
        self.reactive.import_kwh()
    }

    #[getter]
    fn reactive_export_kvarh(&self) -> f64 {
        self.reactive.export_kwh()
    }

    #[getter]
    fn gap_count(&self) -> u64 {
        self.active.phases().first().map_or(0, |p| p.gap_count())
    }

    #[getter]
    fn gap_seconds(&self) -> f64 {
        self.active
            .phases()
            .first()
            .map_or(0.0, |p| p.gap_seconds())
    }

    #[getter]
    fn max_gap(&self) -> f64 {
        self.active.max_gap()
    }

    #[getter]
    fn compensated(&self) -> bool {
        self.active.compensated()
    }

    #[getter]
    fn last_timestamp(&self) -> Option<f64> {
        self.active.last_timestamp()
    }

    /// The totals per phase (W·s, exact), active and reactive, to continue after a restart.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (key, integ) in [("active", &self.active), ("reactive", &self.reactive)] {
            let phases = integ
                .state()
                .iter()
                .map(|s| energy_dict(py, s))
                .collect::<PyResult<Vec<_>>>()?;
            d.set_item(key, phases)?;
        }
        Ok(d)
    }

    /// Continue from `state()`; checked first (totals finite, >= 0, not below this integrator's,
    /// the same phases), on error nothing changes.
    fn restore_state(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = state.cast::<PyDict>().map_err(|_| {
            InputError::new_err(format!(
                "energy state must be a dict as returned by EnergyIntegrator.state(), got {}",
                dtype_name(state)
            ))
        })?;
        let mut saved = vec![];
        for key in ["active", "reactive"] {
            let list = d
                .get_item(key)?
                .ok_or_else(|| InputError::new_err(format!("energy state {key}: missing")))?;
            let items = list.cast::<PyList>().map_err(|_| {
                InputError::new_err(format!("energy state {key}: expected a list of phases"))
            })?;
            let phases = items
                .iter()
                .enumerate()
                .map(|(i, p)| energy_of(&p, &format!("{key}[{i}]")))
                .collect::<PyResult<Vec<_>>>()?;
            saved.push(phases);
        }
        if d.len() != 2 {
            return Err(InputError::new_err(
                "energy state has unknown keys; expected active and reactive",
            ));
        }
        let (mut active, mut reactive) = (self.active.clone(), self.reactive.clone());
        guard(|| {
            active.restore(&saved[0])?;
            reactive.restore(&saved[1])
        })?;
        self.active = active;
        self.reactive = reactive;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "EnergyIntegrator(max_gap={:?}, import_kwh={:?}, export_kwh={:?})",
            self.active.max_gap(),
            self.active.import_kwh(),
            self.active.export_kwh()
        )
    }
}

const COUNTER_STATE_KEYS: [&str; 5] = ["published", "last_raw", "max_increment", "bits", "scale"];

#[pyclass(module = "gridtap._core", name = "CounterTracker")]
pub struct PyCounterTracker {
    inner: CounterTracker,
    bits: Option<u32>,
    scale: f64,
}

fn check_layout(bits: Option<u32>, scale: f64) -> PyResult<()> {
    if let Some(b) = bits {
        if ![16, 32, 64].contains(&b) {
            return Err(InputError::new_err(format!(
                "bits is {b}; expected 16, 32 or 64 (the raw counter's width), or None if it does not wrap"
            )));
        }
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(InputError::new_err(format!(
            "scale is {scale}; expected a finite factor > 0 from raw counts to counter units"
        )));
    }
    Ok(())
}

/// A number from a state dict: int or float (not bool), or None.
fn state_number(d: &Bound<'_, PyDict>, key: &str) -> PyResult<Option<f64>> {
    let Some(v) = d.get_item(key)? else {
        return Ok(None);
    };
    if v.is_none() {
        return Ok(None);
    }
    let refuse = || {
        InputError::new_err(format!(
            "counter state {key:?} is {}; expected a number or None",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    };
    if v.is_instance_of::<PyBool>() {
        return Err(refuse());
    }
    v.extract::<f64>().map(Some).map_err(|_| refuse())
}

#[pymethods]
impl PyCounterTracker {
    #[classattr]
    const NONE: u8 = 0;
    #[classattr]
    const FIRST: u8 = 1;
    #[classattr]
    const WRAP: u8 = 2;
    #[classattr]
    const RESET: u8 = 3;

    #[new]
    #[pyo3(signature = (bits = None, scale = 1.0, max_increment = None))]
    fn new(bits: Option<u32>, scale: f64, max_increment: Option<f64>) -> PyResult<Self> {
        check_layout(bits, scale)?;
        let inner = guard(|| CounterTracker::new(max_increment))?;
        Ok(PyCounterTracker { inner, bits, scale })
    }

    #[classattr]
    #[pyo3(name = "EVENT_NAMES")]
    fn event_names() -> (&'static str, &'static str, &'static str, &'static str) {
        ("none", "first", "wrap", "reset")
    }

    #[allow(clippy::type_complexity)]
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        values: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<u8>>)> {
        let modulus = self.modulus();
        let inner = &mut self.inner;
        let (published, events) = with_f64(values, "values", |vs| {
            enter(py, || {
                let (p, e) = inner.update(vs, modulus)?;
                Ok((p, e.into_iter().map(|e| e.code()).collect::<Vec<u8>>()))
            })
        })?;
        Ok((
            PyArray1::from_vec(py, published),
            PyArray1::from_vec(py, events),
        ))
    }

    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.state();
        let d = PyDict::new(py);
        d.set_item("published", s.published)?;
        d.set_item("last_raw", s.last_raw)?;
        d.set_item("max_increment", s.max_increment)?;
        d.set_item("bits", self.bits)?;
        d.set_item("scale", self.scale)?;
        Ok(d)
    }

    #[staticmethod]
    fn from_state(state: &Bound<'_, PyAny>) -> PyResult<Self> {
        let d = state.cast::<PyDict>().map_err(|_| {
            InputError::new_err(format!(
                "counter state must be a dict as returned by CounterTracker.state(), got {}",
                dtype_name(state)
            ))
        })?;
        for key in d.keys() {
            let name: String = key.str()?.to_string();
            if !COUNTER_STATE_KEYS.contains(&name.as_str()) {
                return Err(InputError::new_err(format!(
                    "counter state has unknown key {name:?}; expected keys {COUNTER_STATE_KEYS:?}"
                )));
            }
        }
        for key in ["published", "last_raw"] {
            if !d.contains(key)? {
                return Err(InputError::new_err(format!(
                    "counter state has no {key:?}; expected keys {COUNTER_STATE_KEYS:?}"
                )));
            }
        }
        let bits = match state_number(d, "bits")? {
            None => None,
            Some(b) if b.fract() == 0.0 && (0.0..=64.0).contains(&b) => Some(b as u32),
            Some(b) => {
                return Err(InputError::new_err(format!(
                    "counter state \"bits\" is {b}; expected 16, 32, 64 or None"
                )))
            }
        };
        let scale = state_number(d, "scale")?.unwrap_or(1.0);
        check_layout(bits, scale)?;
        let saved = CounterState {
            published: state_number(d, "published")?,
            last_raw: state_number(d, "last_raw")?,
            max_increment: state_number(d, "max_increment")?,
        };
        let inner = guard(|| CounterTracker::from_state(saved))?;
        Ok(PyCounterTracker { inner, bits, scale })
    }

    #[getter]
    fn published(&self) -> Option<f64> {
        self.inner.published()
    }

    #[getter]
    fn bits(&self) -> Option<u32> {
        self.bits
    }

    #[getter]
    fn scale(&self) -> f64 {
        self.scale
    }

    #[getter]
    fn modulus(&self) -> Option<f64> {
        self.bits.map(|b| 2f64.powi(b as i32) * self.scale)
    }

    fn __repr__(&self) -> String {
        format!(
            "CounterTracker(bits={}, scale={:?}, published={})",
            self.bits.map_or("None".to_string(), |b| b.to_string()),
            self.scale,
            self.inner
                .published()
                .map_or("None".to_string(), |p| format!("{p:?}"))
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRocofEstimator>()?;
    m.add_class::<PyRocofTrip>()?;
    m.add_class::<PyEnergyIntegrator>()?;
    m.add_class::<PyCounterTracker>()?;
    Ok(())
}
