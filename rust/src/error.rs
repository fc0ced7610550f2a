//! The one error type of the kernels. The bindings map `Input` to a ValueError subclass.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The caller passed something the kernel cannot accept (wrong length, NaN, bad order...).
    Input(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for an input error with a formatted message.
#[macro_export]
macro_rules! input_err {
    ($($arg:tt)*) => { $crate::error::Error::Input(format!($($arg)*)) };
}
