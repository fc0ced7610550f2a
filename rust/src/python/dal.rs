//! The DAL's write path in its common case: a dict of the same channels as the last write of its
//! namespace, every value a finite float within its physical minimum. One pass here replaces the
//! per-value checks in Python; anything else gives None, and the DAL's Python code checks every
//! value and names what is wrong.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyString, PyTuple};

use super::values::ChannelValues;
use super::InputError;

/// The channel names of one kind of DAL write (bare names, in the order a write gives them) and
/// the physical minima that apply to them.
#[pyclass(module = "gridtap._core", frozen)]
pub struct WriteLayout {
    names: Py<PyTuple>,
    minima: Vec<(usize, f64)>,
}

#[pymethods]
impl WriteLayout {
    #[new]
    fn new(names: Bound<'_, PyTuple>, minima: Vec<(usize, f64)>) -> PyResult<Self> {
        for name in names.iter() {
            if name.cast_exact::<PyString>().is_err() {
                return Err(InputError::new_err(format!(
                    "channel names must be str, got {}",
                    name.repr()?
                )));
            }
        }
        if let Some(&(i, lo)) = minima
            .iter()
            .find(|(i, lo)| *i >= names.len() || lo.is_nan())
        {
            return Err(InputError::new_err(format!(
                "minimum ({i}, {lo}) is not an index below {} and a number",
                names.len()
            )));
        }
        Ok(WriteLayout {
            names: names.unbind(),
            minima,
        })
    }

    /// The values of `mapping` as a tuple when it is a dict (or what `MeterPipeline.push`
    /// returns) with exactly these names as keys, in this order, and every value is a finite
    /// float at or above its minimum; else None.
    fn values<'py>(
        &self,
        py: Python<'py>,
        mapping: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        if let Ok(frame) = mapping.cast_exact::<ChannelValues>() {
            return self.frame_values(py, frame.get());
        }
        let Ok(dict) = mapping.cast_exact::<PyDict>() else {
            return Ok(None);
        };
        let names = self.names.bind(py);
        let n = names.len();
        if dict.len() != n {
            return Ok(None);
        }
        let mut values = Vec::with_capacity(n);
        let mut numbers = Vec::with_capacity(n);
        // no Python code runs in this loop (exact str keys compare in C), so the dict cannot change
        for (i, (key, value)) in dict.iter().enumerate() {
            let name = names.get_borrowed_item(i)?;
            if !key.is(&*name) && (key.cast_exact::<PyString>().is_err() || !key.eq(&*name)?) {
                return Ok(None);
            }
            let Ok(x) = value.cast_exact::<PyFloat>().map(|f| f.value()) else {
                return Ok(None);
            };
            if !x.is_finite() {
                return Ok(None);
            }
            numbers.push(x);
            values.push(value);
        }
        if self.minima.iter().any(|&(i, lo)| numbers[i] < lo) {
            return Ok(None);
        }
        Ok(Some(PyTuple::new(py, values)?))
    }
}

impl WriteLayout {
    fn frame_values<'py>(
        &self,
        py: Python<'py>,
        frame: &ChannelValues,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let names = self.names.bind(py);
        let keys = frame.names(py);
        if keys.len() != names.len() {
            return Ok(None);
        }
        let mut numbers = Vec::with_capacity(names.len());
        for (i, x) in frame.ordered().enumerate() {
            let (key, name) = (keys.get_borrowed_item(i)?, names.get_borrowed_item(i)?);
            if !key.is(&*name) && !key.eq(&*name)? {
                return Ok(None);
            }
            if !x.is_finite() {
                return Ok(None);
            }
            numbers.push(x);
        }
        if self.minima.iter().any(|&(i, lo)| numbers[i] < lo) {
            return Ok(None);
        }
        Ok(Some(PyTuple::new(py, numbers)?))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<WriteLayout>()?;
    Ok(())
}
