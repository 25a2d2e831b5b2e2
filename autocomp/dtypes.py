"""Element types a problem may declare, and how each maps to C and numpy.

bf16 has no numpy dtype: buffers hold the raw 16-bit patterns (uint16) and the
reference sees the exactly-representable float32 values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DType:
    name: str
    ctype: str
    storage: np.dtype  # how the bytes are laid out in the C buffer
    is_float: bool


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("f32", "float", np.dtype(np.float32), True),
        DType("f64", "double", np.dtype(np.float64), True),
        DType("f16", "_Float16", np.dtype(np.float16), True),
        DType("bf16", "uint16_t", np.dtype(np.uint16), True),
        DType("i8", "int8_t", np.dtype(np.int8), False),
        DType("u8", "uint8_t", np.dtype(np.uint8), False),
        DType("i16", "int16_t", np.dtype(np.int16), False),
        DType("u16", "uint16_t", np.dtype(np.uint16), False),
        DType("i32", "int32_t", np.dtype(np.int32), False),
        DType("u32", "uint32_t", np.dtype(np.uint32), False),
        DType("i64", "int64_t", np.dtype(np.int64), False),
    )
}


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """Round float values to bf16 (round-to-nearest-even) and return the 16-bit patterns."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_values(bits: np.ndarray) -> np.ndarray:
    """The float32 values that bf16 bit patterns represent exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def to_storage(dtype: DType, logical: np.ndarray) -> np.ndarray:
    """Convert logical values to what the C buffer holds."""
    if dtype.name == "bf16":
        return bf16_bits(logical)
    return logical.astype(dtype.storage)


def to_logical(dtype: DType, stored: np.ndarray) -> np.ndarray:
    """Convert C buffer contents to the values a reference computes with."""
    if dtype.name == "bf16":
        return bf16_values(stored)
    return stored
