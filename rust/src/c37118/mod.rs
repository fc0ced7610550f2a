//! IEEE C37.118 synchrophasor frames (version 1 = C37.118-2005, 2 = C37.118.2-2011): a stream
//! decoder and the encoders a simulator needs, as plain Rust over byte slices.
//!
//! - `crc`: CHK (CRC-16-CCITT).
//! - `common`: the common header, FRACSEC and time.
//! - `reframer`: frames out of a byte stream (partial reads, garbage, bad CRCs).
//! - `config`, `cfg12`, `cfg3`, `fragments`: configurations and their three wire formats.
//! - `data`, `stat`: data frames and the STAT word.
//! - `command`, `header_frame`: the small frames.
//! - `decoder`: the stateful decoder; `batch`: a recorded stream into per-PMU columns.
//! - `encode`, `writer`: frame assembly.

pub mod batch;
pub mod cfg12;
pub mod cfg3;
pub mod command;
pub mod common;
pub mod config;
pub mod crc;
mod cursor;
pub mod data;
pub mod decoder;
pub mod encode;
pub mod fragments;
pub mod header_frame;
pub mod reframer;
pub mod stat;
mod writer;

pub use common::{FrameType, Timestamp};
pub use config::{
    AnalogChannel, Cfg3Extras, Component, Config, Format, PhasorChannel, PhasorUnit, PmuConfig,
};
pub use data::{DataValues, Phasor, PmuSample, PmuScalars};
pub use decoder::{Body, Decoder, Frame, FrameInfo, Stats};
pub use stat::Stat;
