"""Scratch driver: instantiate a template with params/knobs, compile, check, time.
usage from python: run(dtype, shape, knobs, secs, check) -> (status, gflops)"""
import hashlib, itertools, os, subprocess, sys, json, random
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
from autocomp.knobs import parse_knobs, set_defines

HERE = os.path.dirname(os.path.abspath(__file__))
TDIR = os.path.join(REPO, 'autocomp/targets/amx/templates')
BUILD = '/tmp/amx_tpl_build'
REF = '/tmp/amx_ref'
os.makedirs(BUILD, exist_ok=True); os.makedirs(REF, exist_ok=True)
SHAPES = {'256': (256, 256, 256), '512': (512, 512, 512), '1024': (1024, 1024, 1024), '2048': (2048, 2048, 2048),
          '12544x64x256': (12544, 64, 256), '3136x128x512': (3136, 128, 512), '784x256x1024': (784, 256, 1024)}
VENDOR = {'bf16': {'256': 1348, '512': 1642, '1024': 1619, '2048': 1414, '12544x64x256': 1126, '3136x128x512': 1416, '784x256x1024': 1652},
          'i8': {'256': 2331, '512': 2386, '1024': 2654, '2048': 2800, '12544x64x256': 1347, '3136x128x512': 2170, '784x256x1024': 2787}}
PEAK = {'bf16': 3820, 'i8': 7650}

def template(dtype, path=None):
    return open(path or f'{TDIR}/gemm_{dtype}.c').read()

def spec(dtype, path=None):
    return parse_knobs(template(dtype, path))

def valid(sp, shape, knobs):
    M, N, K = SHAPES[shape]
    return sp.violated({**knobs, 'M': M, 'N': N, 'K': K}) is None

def all_settings(sp, shape, fixed=None):
    names = list(sp.knobs)
    fixed = fixed or {}
    out = []
    for vals in itertools.product(*[([fixed[n]] if n in fixed else sp.knobs[n].values) for n in names]):
        k = dict(zip(names, vals))
        if valid(sp, shape, k):
            out.append(k)
    return out

def build(dtype, shape, knobs, path=None):
    M, N, K = SHAPES[shape]
    src = set_defines(template(dtype, path), {'M': M, 'N': N, 'K': K, **knobs})
    h = hashlib.sha1((dtype + src).encode()).hexdigest()[:16]
    exe = f'{BUILD}/{h}'
    if not os.path.exists(exe):
        c = f'{BUILD}/{h}.c'
        open(c, 'w').write(src)
        r = subprocess.run(['gcc', '-O3', '-march=sapphirerapids', '-std=gnu11', '-c', c, '-o', f'{BUILD}/{h}.o'], capture_output=True, text=True)
        if r.returncode:
            return None, r.stderr
        r = subprocess.run(['gcc', '-O2', '-march=sapphirerapids', f'-DBM={M}', f'-DBN={N}', f'-DBK={K}',
                            '-DDT_BF16' if dtype == 'bf16' else '-DDT_I8', f'{HERE}/bench.c', f'{BUILD}/{h}.o', '-lm', '-o', exe + '.tmp'],
                           capture_output=True, text=True)
        if r.returncode:
            return None, r.stderr
        os.rename(exe + '.tmp', exe)
    return exe, src

def _cpu_times():
    out = {}
    for line in open('/proc/stat'):
        if line.startswith('cpu') and line[3].isdigit():
            f = line.split(); v = list(map(int, f[1:8]))
            out[f[0]] = (sum(v), v[3] + v[4])
    return out

def wait_quiet(max_wait=30.0, thresh=0.10, sample=0.3):
    """wait until both CPUs are < thresh busy (foreign load) over a short sample, at most max_wait s"""
    import time
    t0 = time.time()
    while True:
        a = _cpu_times(); time.sleep(sample); b = _cpu_times()
        busy = max(1 - (b[c][1] - a[c][1]) / max(1, b[c][0] - a[c][0]) for c in a)
        if busy < thresh or time.time() - t0 > max_wait:
            return busy

QUIET = float(os.environ.get('AMX_QUIET', '0'))
EVALMODE = os.environ.get('AMX_EVALMODE', '0')

def run(dtype, shape, knobs, secs=0.5, check=1, path=None, cpu=1):
    exe, err = build(dtype, shape, knobs, path)
    if exe is None:
        return 'COMPILE', err
    if QUIET:
        wait_quiet(max_wait=QUIET)
    r = subprocess.run(['taskset', '-c', str(cpu), exe, str(secs), str(check), REF, EVALMODE], capture_output=True, text=True, timeout=600)
    out = r.stdout.strip()
    if r.returncode or not out.startswith('OK'):
        return f'FAIL rc={r.returncode}', out + r.stderr[-500:]
    g = float(out.split('gflops=')[1].split()[0])
    return 'OK', g

if __name__ == '__main__':
    dtype, shape = sys.argv[1], sys.argv[2]
    knobs = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    sp = spec(dtype)
    k = {**sp.setting(), **knobs}
    print(k, valid(sp, shape, k), run(dtype, shape, k))
