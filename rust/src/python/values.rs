//! `ChannelValues`: what `MeterPipeline.push` returns. A read-only mapping of channel name to
//! value (None where there is no valid value), built without creating a dict per frame: the
//! frame's values stay in one Rust array and Python objects are made only for what is read.

use std::sync::Arc;

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

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

    /// The values in the order of `names` as Python objects (None where there is no valid value),
    /// each made straight into its list slot.
    fn value_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        use pyo3::ffi;
        let n = self.layout.slots.len();
        // Safety: a new list of n empty slots, each set once below to a new reference it takes
        // over; on an error the list is dropped with the slots still empty, which it allows
        unsafe {
            let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(n as ffi::Py_ssize_t))?
                .cast_into_unchecked::<PyList>();
            for (i, x) in self.ordered().enumerate() {
                let obj = value_object(py, x)?.into_ptr();
                ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, obj);
            }
            Ok(list)
        }
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
        self.value_list(py)
    }

    /// A view of the (channel, value) pairs: iterating it pairs the names with the values made
    /// in one pass, through `zip` (which reuses its pair when the loop has let go of it).
    fn items(slf: Bound<'_, Self>) -> ChannelItems {
        ChannelItems {
            frame: slf.unbind(),
        }
    }

    /// A plain dict of the same items.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let keys = self.layout.keys.bind(py);
        for (i, x) in self.ordered().enumerate() {
            d.set_item(keys.get_borrowed_item(i)?, value_object(py, x)?)?;
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

/// What `ChannelValues.items()` returns: a re-iterable view of its (channel, value) pairs.
#[pyclass(module = "gridtap._core", frozen)]
pub struct ChannelItems {
    frame: Py<ChannelValues>,
}

#[pymethods]
impl ChannelItems {
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static ZIP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let zip = ZIP.get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("builtins")?.getattr("zip")?.unbind())
        })?;
        let frame = self.frame.get();
        zip.bind(py).call1((frame.names(py), frame.value_list(py)?))
    }

    fn __len__(&self) -> usize {
        self.frame.get().layout.slots.len()
    }

    fn __contains__(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok((key, value)) = item.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() else {
            return Ok(false);
        };
        let frame = self.frame.get();
        match frame.slot(&key) {
            Some(c) => value_object(py, frame.values[c])?.bind(py).eq(value),
            None => Ok(false),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let pairs = pyo3::types::PyList::empty(py);
        for pair in self.__iter__(py)?.try_iter()? {
            pairs.append(pair?)?;
        }
        Ok(format!("ChannelItems({})", pairs.repr()?))
    }
}
