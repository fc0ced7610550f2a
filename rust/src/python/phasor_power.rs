//! Binding of the phasor-to-grid-channel kernel: one frame's channels as a dict, from a decoded PMU
//! block (no Python complex numbers in between) or from a sequence of complex. Docstrings live in
//! `_core.pyi`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyString, PyTuple};

use super::c37118::{to_complex, PyPmuData};
use super::guard;
use crate::c37118::Phasor;
use crate::phasor_power::PhasorPower;

#[pyclass(module = "gridtap._core", name = "PhasorChannels", frozen)]
pub struct PyPhasorChannels {
    inner: PhasorPower,
    names: Vec<Py<PyString>>,
}

impl PyPhasorChannels {
    fn dict<'py>(
        &self,
        py: Python<'py>,
        phasors: &[Phasor],
        freq: f64,
        rocof: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut out = Vec::with_capacity(self.names.len());
        guard(|| self.inner.values(phasors, freq, rocof, &mut out))?;
        let d = PyDict::new(py);
        for (name, v) in self.names.iter().zip(out) {
            if v.is_nan() {
                d.set_item(name.bind(py), py.None())?;
            } else {
                d.set_item(name.bind(py), PyFloat::new(py, v))?;
            }
        }
        Ok(d)
    }
}

#[pymethods]
impl PyPhasorChannels {
    #[new]
    #[pyo3(signature = (voltages, currents, positive = None, *, totals, invert = false))]
    fn new(
        py: Python<'_>,
        voltages: [Option<usize>; 3],
        currents: [Option<usize>; 3],
        positive: Option<(usize, usize)>,
        totals: bool,
        invert: bool,
    ) -> PyResult<Self> {
        let inner = guard(|| PhasorPower::new(voltages, currents, positive, totals, invert))?;
        let names = inner
            .names()
            .iter()
            .map(|n| PyString::intern(py, n).unbind())
            .collect();
        Ok(PyPhasorChannels { inner, names })
    }

    #[getter]
    fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.names.iter().map(|n| n.bind(py)))
    }

    fn values<'py>(
        &self,
        py: Python<'py>,
        phasors: Vec<Bound<'py, PyAny>>,
        freq: f64,
        rocof: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let phasors = phasors
            .iter()
            .map(to_complex)
            .collect::<PyResult<Vec<Phasor>>>()?;
        self.dict(py, &phasors, freq, rocof)
    }

    fn block<'py>(&self, py: Python<'py>, pmu: &PyPmuData) -> PyResult<Bound<'py, PyDict>> {
        self.dict(py, &pmu.phasors, pmu.freq, pmu.rocof)
    }

    fn __repr__(&self) -> String {
        format!("PhasorChannels({} channels)", self.names.len())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPhasorChannels>()
}
