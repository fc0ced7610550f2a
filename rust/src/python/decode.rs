//! Bindings for register decoding.

use numpy::PyArray1;
use pyo3::prelude::*;

use super::{enter, new_f64_array, with_u16};
use crate::registers::{self, DType, WordOrder};

/// Decode a run of equally typed values from uint16 registers.
#[pyfunction]
#[pyo3(signature = (registers, dtype, word_order = "ABCD", scale = 1.0))]
fn decode_values<'py>(
    py: Python<'py>,
    registers: &Bound<'py, PyAny>,
    dtype: &str,
    word_order: &str,
    scale: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let dtype = super::guard(|| DType::parse(dtype))?;
    let order = super::guard(|| WordOrder::parse(word_order))?;
    with_u16(registers, "registers", |words, _shape| {
        let n = super::guard(|| registers::value_count(words, dtype))?;
        // numpy's allocation: a fresh Rust Vec handed over costs a page fault per 4 KiB
        new_f64_array(py, n, |out| {
            enter(py, || {
                registers::decode_values_into(words, dtype, order, scale, out)
            })
        })
    })
}

/// The registers that hold `value` (in units, divided by `scale` before storing).
#[pyfunction]
#[pyo3(signature = (value, dtype, word_order = "ABCD", scale = 1.0))]
fn encode_value<'py>(
    py: Python<'py>,
    value: f64,
    dtype: &str,
    word_order: &str,
    scale: f64,
) -> PyResult<Bound<'py, PyArray1<u16>>> {
    let words = super::guard(|| {
        let dtype = DType::parse(dtype)?;
        let order = WordOrder::parse(word_order)?;
        registers::encode_value(value, dtype, order, scale)
    })?;
    Ok(PyArray1::from_vec(py, words))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_values, m)?)?;
    m.add_function(wrap_pyfunction!(encode_value, m)?)?;
    Ok(())
}
