"""Type stubs and documentation of the compiled core (`gridtap._core`)."""

import numpy as np
import numpy.typing as npt

class InputError(ValueError):
    """Input the core cannot accept: wrong lengths or types, non-finite or out-of-order values."""

class InternalError(RuntimeError):
    """A bug in the core (a Rust panic) surfaced as an exception instead of an abort."""

def decode_values(
    registers: npt.NDArray[np.uint16], dtype: str, word_order: str = "ABCD", scale: float = 1.0
) -> npt.NDArray[np.float64]:
    """Decode a run of equally typed values from uint16 registers (any shape, read row-major).

    dtype: int16, uint16, int32, uint32, int64, uint64, float32, float64.
    word_order: ABCD (high word first), CDAB (low word first), BADC (bytes swapped in each word),
    DCBA (little-endian). The register count must be a whole number of values.
    """

def encode_value(
    value: float, dtype: str, word_order: str = "ABCD", scale: float = 1.0
) -> npt.NDArray[np.uint16]:
    """The registers holding `value / scale` in `dtype` and `word_order`; error if it does not fit."""

def _panic_for_test() -> None: ...
