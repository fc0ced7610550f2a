//! `ChannelValues`: what `MeterPipeline.push` returns. A read-only mapping of channel name to
//! value (None where there is no valid value), built without creating a dict per frame: the
//! frame's values stay in one Rust array and Python objects are made only for what is read.

use std::sync::Arc;

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::channel::{self, NCH};

/// The channels of one pipeline, shared by every ChannelValues it returns.
pub(crate) struct Layout {
    slots: Vec<usize>,
    keys: Py<PyTuple>,
    present: [bool; NCH],
}

impl Layout {
    pub(crate) fn new(py: Python<'_>, slots: Vec<usize>) -> PyResult<Arc<Layout>> {
        let names: Vec<Bound<'_, PyString>> = slots
            .iter()
            .map(|&c| PyString::intern(py, channel::NAMES[c]))
            .collect();
        let mut present = [false; NCH];
        for &c in &slots {
            present[c] = true;
        }
        Ok(Arc::new(Layout {
            slots,
            keys: PyTuple::new(py, names)?.unbind(),
            present,
        }))
    }
}

fn value_object(py: Python<'_>, x: f64) -> PyResult<Py<PyAny>> {
    Ok(if x.is_nan() {
        py.None()
    } else {
        x.into_pyobject(py)?.into_any().unbind()
    })
}

/// One frame's standard channels: a read-only Mapping (registered as collections.abc.Mapping).
#[pyclass(module = "gridtap._core", frozen, mapping)]
pub struct ChannelValues {
    layout: Arc<Layout>,
    values: [f64; NCH],
}

impl ChannelValues {
    pub(crate) fn new(layout: Arc<Layout>, values: [f64; NCH]) -> Self {
        ChannelValues { layout, values }
    }

    /// The channel names, in order (interned strings shared by every frame of a pipeline).
    pub(crate) fn names<'py>(&self, py: Python<'py>) -> &Bound<'py, PyTuple> {
        self.layout.keys.bind(py)
    }

    /// The values in the order of `names` (NaN where there is no valid value).
    pub(crate) fn ordered(&self) -> impl Iterator<Item = f64> + '_ {
        self.layout.slots.iter().map(|&c| self.values[c])
    }

    fn slot(&self, key: &Bound<'_, PyAny>) -> Option<usize> {
        let name = key.cast::<PyString>().ok()?;
        let name = name.to_str().ok()?;
        channel::index(name).filter(|&c| self.layout.present[c])
    }
}

#[pymethods]
impl ChannelValues {
    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match self.slot(key) {
            Some(c) => value_object(py, self.values[c]),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    #[pyo3(signature = (key, default = None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match self.slot(key) {
            Some(c) => value_object(py, self.values[c]),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        self.slot(key).is_some()
    }

    fn __len__(&self) -> usize {
        self.layout.slots.len()
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.layout.keys.bind(py).try_iter()?.into_any().unbind())
    }

    fn keys(&self, py: Python<'_>) -> Py<PyTuple> {
        self.layout.keys.clone_ref(py)
    }

    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .layout
            .slots
            .iter()
            .map(|&c| value_object(py, self.values[c]))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let keys = self.layout.keys.bind(py);
        let items = self
            .layout
            .slots
            .iter()
            .enumerate()
            .map(|(i, &c)| Ok((keys.get_item(i)?, value_object(py, self.values[c])?)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// A plain dict of the same items.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let d = pyo3::types::PyDict::new(py);
        for (k, v) in self.items(py)?.iter().map(|t| {
            let t = t.cast_into::<PyTuple>().expect("items are pairs");
            (t.get_item(0).expect("key"), t.get_item(1).expect("value"))
        }) {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        if let Ok(o) = other.cast::<ChannelValues>() {
            let o = o.get();
            return Ok(self.layout.slots == o.layout.slots
                && self.layout.slots.iter().all(|&c| {
                    let (a, b) = (self.values[c], o.values[c]);
                    a == b || (a.is_nan() && b.is_nan())
                }));
        }
        self.to_dict(py)?.eq(other)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("ChannelValues({})", self.to_dict(py)?.repr()?))
    }
}
