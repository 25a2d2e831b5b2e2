"""The `amx` target's static policy, shared by the hardware evaluator and the emulator (which
check kernels by the same rule), so neither module imports the other."""

from __future__ import annotations

from autocomp.evaluation.policy import Policy

# Any `_tile_*` call would be too weak (a scalar kernel plus `_tile_release();` would pass), so
# demand a tile dot product; the regex runs on code with comments and strings removed.
POLICY = Policy(
    required=(r"\b_tile_dp(?:bf16ps|bssd|bsud|busd|buud)\s*\(",),
    required_reason=(
        "the kernel uses no AMX tile dot-product intrinsics: the `amx` target measures code that runs on the AMX tile unit, "
        "so the main computation must use _tile_loadconfig, _tile_loadd, _tile_dpbf16ps / _tile_dpbssd and _tile_stored "
        "(AVX-512 is fine for packing and epilogues, not as a replacement)"
    ),
)
