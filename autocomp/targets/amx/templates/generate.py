"""Writes gemm_bf16.c and gemm_i8.c (beside this file) from the one master, gemm.c.in.

The two GEMM templates share every line except the element types, the dot-product instruction,
the VNNI packing step and their presets, so they are written from one master: edit gemm.c.in or
the tables here, then run `python autocomp/targets/amx/templates/generate.py`.
tests/test_amx_templates.py fails when the shipped files differ from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MASTER = HERE / "gemm.c.in"


def arr(name, vals):
    body = ', '.join(str(v) for v in vals)
    return f'static const uint8_t {name}[64] __attribute__((aligned(64))) = {{{body}}};'

# bf16: output word w (0..31) of the low half = word w/2 of row k (w even) or row k+1 (w odd)
bf_lo = []
for w in range(32):
    src = (64 if w % 2 else 0) + 2 * (w // 2)   # byte index into [x0 | x1]
    bf_lo += [src, src + 1]
bf_hi = [v + 32 for v in bf_lo]
BF_PACK = f'''{arr('PIDX_LO', bf_lo)}
{arr('PIDX_HI', bf_hi)}
static inline __attribute__((always_inline)) void pack_step(const T *r0, T *d0, T *d1) {{
  /* rows k, k+1 (32 bf16 each): byte-granular vpermt2b (1 uop; vpermt2w is 3) interleaves the pairs */
  const __m512i lo = _mm512_load_si512(PIDX_LO), hi = _mm512_load_si512(PIDX_HI);
  const __m512i x0 = _mm512_loadu_si512(r0), x1 = _mm512_loadu_si512(r0 + N);
  _mm512_store_si512(d0, _mm512_permutex2var_epi8(x0, lo, x1));
  _mm512_store_si512(d1, _mm512_permutex2var_epi8(x0, hi, x1));
}}'''
# int8: x01 = [r0 (32 B) | r1 (32 B)], x23 = [r2 | r3]; output byte 4c+i = row i, column c
i8_lo = [i * 32 + c for c in range(16) for i in range(4)]
i8_hi = [v + 16 for v in i8_lo]
I8_PACK = f'''{arr('PIDX_LO', i8_lo)}
{arr('PIDX_HI', i8_hi)}
static inline __attribute__((always_inline)) void pack_step(const T *r0, T *d0, T *d1) {{
  /* rows k..k+3 (32 int8 each) -> quads: two 256-bit loads per zmm, then one vpermt2b per tile row */
  const __m512i lo = _mm512_load_si512(PIDX_LO), hi = _mm512_load_si512(PIDX_HI);
  const __m512i x01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)r0)),
                                         _mm256_loadu_si256((const __m256i *)(r0 + N)), 1);
  const __m512i x23 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(r0 + 2 * N))),
                                         _mm256_loadu_si256((const __m256i *)(r0 + 3 * N)), 1);
  _mm512_store_si512(d0, _mm512_permutex2var_epi8(x01, lo, x23));
  _mm512_store_si512(d1, _mm512_permutex2var_epi8(x01, hi, x23));
}}'''

# Starting settings per shape class (`@preset`, see docs/knobs.md): the tuner's first template
# instance for a problem is the first preset whose condition holds and whose setting satisfies the
# constraints. Conditions are written for classes of shapes; the values come from the hand-tuning
# table in autocomp/targets/amx/templates/README.md (ORDER 3 for the tall-skinny class).
KNOB_ORDER = ['MB', 'NB', 'KC', 'MC', 'NC', 'NTA', 'NTB', 'ORDER', 'G', 'PACKA', 'PACKB', 'XPIPE', 'CNT', 'PFC', 'PFN', 'PFP', 'BPAD', 'MREV', 'SPF']
OFF = dict(G=1, PACKA=0, PACKB=1, XPIPE=0, CNT=0, PFC=0, PFN=0, PFP=0, NTA=0, NTB=0, BPAD=1, MREV=0, SPF=0)
STREAM = dict(OFF, ORDER=3, MB=1, KC='K', MC=16384, NC='N', BPAD=0, MREV=1)
PRESETS = {
    'bf16': [
        ('stream', 'N <= 64 && M >= 16 * K', dict(STREAM, NB=2)),
        ('skinny', 'N <= 128 && M >= 4 * K', dict(STREAM, MB=2, NB=2, NTB=1, SPF=1)),
        ('small', 'M * N * K <= 16777216', dict(OFF, MB=2, NB=2, KC='K', NC=32, MC=4096, ORDER=0, PACKB=2, XPIPE=1, NTA=1)),
        ('deep', 'N <= 256 && K >= 4 * N', dict(OFF, MB=2, NB=2, KC=512, NC='N', MC=64, ORDER=2, XPIPE=1, NTB=1)),
        ('huge', 'N >= 2048 && K >= 2048', dict(OFF, MB=2, NB=2, KC=512, NC=256, MC=4096, ORDER=2, PACKA=3, XPIPE=1, NTB=1, CNT=2, PFN=2)),
        ('big', 'N >= 1024 && K >= 1024', dict(OFF, MB=2, NB=2, KC=512, NC=512, MC=2048, ORDER=2, PACKA=1, XPIPE=1, NTB=1)),
        ('medium', 'N >= 256 && K >= 256', dict(OFF, MB=2, NB=2, KC=512, NC=256, MC=4096, ORDER=2, XPIPE=1, NTB=1)),
    ],
    'i8': [
        ('stream', 'N <= 64 && M >= 16 * K', dict(STREAM, NB=1)),
        ('skinny', 'N <= 128 && M >= 4 * K', dict(STREAM, MB=2, NB=2, NTB=1, SPF=1)),
        ('small', 'M * N * K <= 16777216', dict(OFF, MB=2, NB=2, KC='K', NC=64, MC=64, ORDER=2)),
        ('deep', 'N <= 256 && K >= 4 * N', dict(OFF, MB=2, NB=2, KC='K', NC='N', MC=1024, ORDER=2, XPIPE=1, NTB=1, PFC=1, PFN=2)),
        ('huge', 'N >= 2048 && K >= 2048', dict(OFF, MB=2, NB=2, KC=1024, NC=512, MC=512, ORDER=2, PACKA=1, XPIPE=1, NTB=1, CNT=2)),
        ('big', 'N >= 1024 && K >= 1024', dict(OFF, MB=2, NB=2, KC='K', NC='N', MC=16384, ORDER=2, XPIPE=1, NTB=1)),
        ('medium', 'N >= 256 && K >= 256', dict(OFF, MB=2, NB=2, KC=512, NC=256, MC=256, ORDER=2, XPIPE=1, NTB=1)),
    ],
}

def preset_lines(dtype):
    out = []
    for name, cond, vals in PRESETS[dtype]:
        assert set(vals) == set(KNOB_ORDER), (name, set(KNOB_ORDER) ^ set(vals))
        out.append(f'/* @preset {name} if="{cond}" ' + ' '.join(f'{k}={vals[k]}' for k in KNOB_ORDER) + ' */')
    return '\n'.join(out)

VARIANTS = {
    'bf16': dict(TITLE='bf16', TO_NAME='fp32', T_NAME='bf16', T_DESC='bf16 bit patterns (uint16_t)', VNNI_WORD='pairs',
                 VNNI_N='2', DP_NAME='tdpbf16ps', KSTEP='32', KC_VALUES='64,128,256,512,1024,2048',
                 TYPES='typedef uint16_t T; /* bf16 bits */\ntypedef float TO;\n#define KSTEP 32 /* K elements per tile dot product */\n#define RPS 2    /* B rows per VNNI group (pairs) */\n#define DP(c, a, b) _tile_dpbf16ps(c, a, b)',
                 PACK_STEP=BF_PACK),
    'i8': dict(TITLE='int8', TO_NAME='int32', T_NAME='int8', T_DESC='signed int8', VNNI_WORD='quads',
               VNNI_N='4', DP_NAME='tdpbssd', KSTEP='64', KC_VALUES='64,128,256,512,1024,2048',
               TYPES='typedef int8_t T;\ntypedef int32_t TO;\n#define KSTEP 64 /* K elements per tile dot product */\n#define RPS 4    /* B rows per VNNI group (quads) */\n#define DP(c, a, b) _tile_dpbssd(c, a, b)',
               PACK_STEP=I8_PACK),
}

def render(master: str = "") -> dict[str, str]:
    """File name -> text of each generated template."""
    src = master or MASTER.read_text()
    out = {}
    for variant, subs in VARIANTS.items():
        s = src
        for key, value in dict(subs, PRESETS=preset_lines(variant)).items():
            s = s.replace("@" + key + "@", value)
        leftover = [line for line in s.splitlines() if "@" in _without_annotations(line)]
        assert not leftover, f"unfilled placeholders in gemm.c.in: {leftover}"
        out[f"gemm_{variant}.c"] = f"/* @template family=gemm-{variant} shapes=\"A[M][K] B[K][N] C[M][N]\" */\n" + s  # the tuner matches templates by family
    return out


def _without_annotations(line: str) -> str:
    for tag in ("@param", "@knob", "@constraint", "@preset"):
        line = line.replace(tag, "")
    return line


def main(out: Path = HERE) -> None:
    for name, text in render().items():
        (out / name).write_text(text)
        print(out / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
