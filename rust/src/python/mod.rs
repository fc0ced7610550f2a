//! The binding layer: converts arrays in and out, releases the GIL around long loops, turns kernel
//! errors into `InputError` (a ValueError) and panics into `InternalError` (a RuntimeError), so
//! that nothing a caller passes can abort the interpreter.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

mod c37118;
mod c37118_config;
mod c37118_encode;
mod dal;
mod decode;
mod output_block;
mod phasor_power;
mod pipeline;
mod pipeline_state;
mod signal;
mod values;

create_exception!(
    gridtap,
    InputError,
    PyValueError,
    "Input the gridtap core cannot accept: wrong lengths, types, non-finite or out-of-order values."
);
create_exception!(
    gridtap,
    InternalError,
    PyRuntimeError,
    "A bug inside the gridtap core (a Rust panic), surfaced as an exception instead of an abort."
);

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

fn to_pyerr(err: crate::Error) -> PyErr {
    match err {
        crate::Error::Input(msg) => InputError::new_err(msg),
    }
}

/// Run a kernel call: catch panics and map errors. For short calls (one frame).
pub(crate) fn guard<T, F>(f: F) -> PyResult<T>
where
    F: FnOnce() -> crate::Result<T>,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_pyerr(e)),
        Err(payload) => Err(InternalError::new_err(format!(
            "gridtap core panicked: {} (please report this)",
            panic_message(payload)
        ))),
    }
}

/// Like `guard`, with the GIL released: for loops over whole arrays.
pub(crate) fn enter<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> crate::Result<T> + Send,
{
    py.detach(move || guard(f))
}

/// A numpy array's dtype name, for error messages.
fn dtype_name(obj: &Bound<'_, PyAny>) -> String {
    obj.getattr("dtype")
        .and_then(|d| d.str())
        .map(|s| s.to_string())
        .unwrap_or_else(|_| {
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        })
}

/// Call `f` with the words of a uint16 array of any shape (row-major) and its shape, without
/// copying when the array is contiguous. Non-contiguous arrays are copied; other dtypes are refused.
pub(crate) fn with_u16<R>(
    obj: &Bound<'_, PyAny>,
    what: &str,
    f: impl FnOnce(&[u16], &[usize]) -> PyResult<R>,
) -> PyResult<R> {
    let arr = obj.cast::<PyArrayDyn<u16>>().map_err(|_| {
        InputError::new_err(format!(
            "{what} must be a numpy uint16 array, got {}; convert with numpy.asarray(x, dtype=numpy.uint16)",
            dtype_name(obj)
        ))
    })?;
    let shape = arr.shape().to_vec();
    let ro = arr.readonly();
    // as_slice also accepts Fortran order, which would read a 2-D frame array column by column
    match ro.as_slice() {
        Ok(s) if arr.is_c_contiguous() => f(s, &shape),
        _ => {
            let owned: Vec<u16> = ro.as_array().iter().copied().collect();
            f(&owned, &shape)
        }
    }
}

/// Call `f` with a 1-D float64 array's values, copying only when it is not contiguous.
pub(crate) fn with_f64<R>(
    obj: &Bound<'_, PyAny>,
    what: &str,
    f: impl FnOnce(&[f64]) -> PyResult<R>,
) -> PyResult<R> {
    let arr = obj.cast::<PyArray1<f64>>().map_err(|_| {
        InputError::new_err(format!(
            "{what} must be a 1-D numpy float64 array, got {}",
            dtype_name(obj)
        ))
    })?;
    let ro = arr.readonly();
    match ro.as_slice() {
        Ok(s) => f(s),
        Err(_) => {
            let owned: Vec<f64> = ro.as_array().iter().copied().collect();
            f(&owned)
        }
    }
}

/// A fresh float64 array of `n` values filled by `fill`. numpy's allocator backs large arrays
/// with huge pages, so a fresh output costs far fewer page faults than a Rust Vec handed over.
pub(crate) fn new_f64_array<'py>(
    py: Python<'py>,
    n: usize,
    fill: impl FnOnce(&mut [f64]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    // Safety: `fill` writes every element or fails, and on failure the array is dropped unseen.
    let arr = unsafe { PyArray1::<f64>::new(py, [n], false) };
    {
        let mut rw = arr.readwrite();
        let out = rw
            .as_slice_mut()
            .map_err(|e| InternalError::new_err(e.to_string()))?;
        fill(out)?;
    }
    Ok(arr)
}

#[pyfunction]
fn _panic_for_test() -> PyResult<()> {
    guard(|| -> crate::Result<()> { panic!("deliberate panic from _panic_for_test") })
}

/// The instruction set the kernels run with on this machine ("baseline", "avx2" or "avx512").
#[pyfunction]
fn simd_level() -> &'static str {
    match crate::simd::level() {
        crate::simd::Level::Baseline => "baseline",
        crate::simd::Level::Avx2 => "avx2",
        crate::simd::Level::Avx512 => "avx512",
    }
}

#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    dal::register(m)?;
    decode::register(m)?;
    signal::register(m)?;
    pipeline::register(m)?;
    c37118::register(m)?;
    phasor_power::register(m)?;
    Ok(())
}
