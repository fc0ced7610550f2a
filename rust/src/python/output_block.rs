//! The memory of a large result (`decode`, `push_many`): one block per call, each channel a row
//! view of it that starts on a 64-byte line, so the kernels write whole lines past the caches.
//!
//! When the last view of a block goes, the block is kept for the next call rather than freed.
//! Memory fresh from the system costs a page fault per page (the kernel zeroes it first): for the
//! 26 MB of 100,000 SDM630 frames that is longer than decoding them. glibc returns a large freed
//! block to the system at once (above its mmap threshold), or when other code's frees leave more
//! than its trim threshold on top of the heap, so a loop that decodes batch after batch with other
//! numpy work in between would otherwise meet fresh memory on every call. One block is kept, of at
//! most `KEEP_MAX_BYTES` (what glibc itself may keep on top of its heap).

use std::sync::Mutex;

use numpy::ndarray::{ArrayView2, ShapeBuilder};
use numpy::PyArray2;
use pyo3::prelude::*;

/// Results from this size get a block of their own; smaller ones are plain numpy arrays (malloc
/// reuses small blocks, and a block's bookkeeping would cost more than it saves).
pub(crate) const BLOCK_FROM_BYTES: usize = 1 << 20;
/// The largest block kept for the next call.
const KEEP_MAX_BYTES: usize = 64 << 20;
/// f64 values per 64-byte line.
const LINE: usize = 8;

static KEPT: Mutex<Option<Vec<f64>>> = Mutex::new(None);

/// Owns a block's memory while any view of it lives; then hands it back to `KEPT`.
#[pyclass(module = "gridtap._core", frozen)]
pub(crate) struct OutputBlock {
    buf: Vec<f64>,
}

impl Drop for OutputBlock {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() * 8 > KEEP_MAX_BYTES {
            return;
        }
        if let Ok(mut kept) = KEPT.lock() {
            // the larger block serves more calls
            if kept.as_ref().is_none_or(|k| k.len() <= buf.len()) {
                *kept = Some(buf);
            }
        }
    }
}

/// A block of at least `len` initialised values: the kept one when it fits (and is not more than
/// twice as large: a small result does not hold a large block), else a new one. A new block is
/// zeroed by calloc, which for a large size maps fresh pages without touching them.
fn take(len: usize) -> Vec<f64> {
    let kept = KEPT.lock().ok().and_then(|mut k| {
        k.as_ref()
            .is_some_and(|v| v.len() >= len && v.len() <= 2 * len)
            .then(|| k.take())
            .flatten()
    });
    kept.unwrap_or_else(|| vec![0.0; len])
}

/// A (rows × n) float64 array over a new or kept block, filled by `fill` with one slice per row;
/// each row starts on a 64-byte line.
pub(crate) fn rows<'py>(
    py: Python<'py>,
    nrows: usize,
    n: usize,
    fill: impl FnOnce(&mut [&mut [f64]]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let stride = n.div_ceil(LINE) * LINE;
    let mut buf = take(nrows * stride + LINE - 1);
    let off = buf.as_ptr().align_offset(LINE * 8).min(LINE - 1);
    let mut outs: Vec<&mut [f64]> = buf[off..]
        .chunks_mut(stride)
        .take(nrows)
        .map(|row| &mut row[..n])
        .collect();
    fill(&mut outs)?;
    let start = buf[off..].as_ptr();
    let owner = Bound::new(py, OutputBlock { buf })?;
    // Safety: the view lies inside the block (nrows rows of `stride` from `off`), which `owner`
    // keeps, unmoved, for as long as the array (the view's base) lives
    unsafe {
        let view = ArrayView2::from_shape_ptr((nrows, n).strides((stride, 1)), start);
        Ok(PyArray2::borrow_from_array(&view, owner.into_any()))
    }
}
