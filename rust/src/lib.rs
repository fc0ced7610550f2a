//! gridtap's numeric core. Every module except `python` is a pure kernel: plain Rust over slices,
//! testable with `cargo test` alone. `python` is the one thin binding layer (feature "python").

pub mod error;
pub mod registers;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
pub mod c37118;
pub mod channel;
mod compensated;
pub mod counter;
pub mod energy;
pub mod fallback;
mod float_column;
mod frame_decode;
pub mod phasor_power;
pub mod pipeline;
pub mod profile;
pub mod rocof;
#[cfg(test)]
mod rocof_timing;
mod rocof_trip;
mod series;
pub mod simd;
mod slope_window;
#[cfg(test)]
mod test_rng;
