"""mkexp.py SRC DST : a copy of a generated template with extra knobs that switch parts off (NOSTORE: final C
stores, NOPACK / NOPACKA: B / A packing after the first calls, NOCOMP: the microkernels), for cost breakdowns.
The results are wrong by design; time them with check=0."""
import sys
src, dst = sys.argv[1], sys.argv[2]
s=open(src).read()
s=s.replace("#include <stdint.h>\n","""#include <stdint.h>
#define NOSTORE 0 /* @knob values=0,1 */
#define NOPACK 0 /* @knob values=0,1 */
#define NOPACKA 0 /* @knob values=0,1 */
#define NOCOMP 0 /* @knob values=0,1 */
static int g_calls;
""",1)
# NOSTORE: skip final C stores (flush_c and handover stores)
s=s.replace("static inline __attribute__((always_inline)) void flush_c(pend_t *p) {\n  if (!p->c) return;","static inline __attribute__((always_inline)) void flush_c(pend_t *p) {\n  if (!p->c) return;\n  if (NOSTORE) { p->c = 0; return; }")
s=s.replace("    if (p->c && (mi) < p->mb) STORE_PENDING(","    if (!NOSTORE && p->c && (mi) < p->mb) STORE_PENDING(")
s=s.replace("static inline __attribute__((always_inline)) void pack_step(const T *r0, T *d0, T *d1) {","static inline __attribute__((always_inline)) void pack_step(const T *r0, T *d0, T *d1) {\n  if (NOPACK && g_calls > 1) return;")
i = s.index("void pack_a("); i = s.index("{\n", i) + 2
s = s[:i] + "  if (NOPACKA && g_calls > 1) return;\n" + s[i:]
s=s.replace("  _tile_loadconfig(&cfg);\n  sched_t s;","  _tile_loadconfig(&cfg);\n  g_calls++;\n  sched_t s;")
s=s.replace('static inline __attribute__((always_inline)) void run_cur(sched_t *s, const blk_t *nx) {', 'static inline __attribute__((always_inline)) void run_cur(sched_t *s, const blk_t *nx) {\n  if (NOCOMP) return;')
assert s.count('NOSTORE') >= 3 and 'g_calls++' in s
open(dst,'w').write(s)
