#!/bin/sh
# device-scaling.sh: on a many-core machine, build gothreads in place and compare the
# main job's table, the numpy scenario and thread churn with the stdlib (device tool).
set -u
echo "== $(nproc) CPUs; $(python3 --version 2>&1)"
python3 -c "import numpy, Cython, setuptools; print('numpy', numpy.__version__, 'Cython', Cython.__version__)" || { echo "no numpy/Cython here"; exit 3; }
python3 setup.py build_ext --inplace -q >/tmp/build.log 2>&1 || { tail -20 /tmp/build.log; exit 4; }
# The main job's table first (from the repo root: the in-place build), then scaling.
python3 -m gothreads ${OUT:+--json "$OUT/demo.json"} 2>/dev/null
python3 - <<'PY'
import os, statistics, sys
sys.path.insert(0, os.getcwd())
from gothreads import scenarios as s
n = 256
ser = statistics.median(s.numpy_sort(None, n) for _ in range(3))
for impl, cls in s.IMPLS.items():
    t = statistics.median(s.numpy_sort(cls, n) for _ in range(3))
    print(f"numpy sort {n} chunks, {os.cpu_count()} workers [{impl}]: {t*1e6:.0f} us/chunk, {ser/t:.2f}x serial")
for impl, cls in s.IMPLS.items():
    print(f"map noop 100k [{impl}]: {s.map_noop(cls, 100000)*1e6:.2f} us/item")
    print(f"bulk submit 100k [{impl}]: {s.bulk_submit(cls, 100000)*1e6:.2f} us/task")
    print(f"seq submit 3000 [{impl}]: {s.seq_submit(cls, 3000)*1e6:.2f} us/op")
print(f"threading.Thread churn: {s.churn_threading(5000)*1e6:.1f} us; python M: {s.churn_python_m(5000)*1e6:.1f} us")
print("burst 64:", {k: tuple(s.burst_then_idle(c, 64, 1.2)[:3]) for k, c in s.IMPLS.items()})
PY
