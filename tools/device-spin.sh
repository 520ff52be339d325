#!/bin/sh
# device-spin.sh: submit().result() round trips with and without the note's spin
# (GOTHREADS_SPIN=0), interleaved, on a many-core machine.
set -u
python3 setup.py build_ext --inplace -q >/tmp/build.log 2>&1 || { tail -20 /tmp/build.log; exit 4; }
for spin in 1 0 1 0; do
GOTHREADS_SPIN=$spin python3 - <<'PY'
import os, statistics, sys
sys.path.insert(0, os.getcwd())
import concurrent.futures as cf, gothreads
from gothreads import scenarios as s
r = []
for _ in range(5):
    a = s.seq_submit(cf.ThreadPoolExecutor, 3000); b = s.seq_submit(gothreads.ThreadPoolExecutor, 3000)
    r.append(b / a)
print("GOTHREADS_SPIN=%s seq ratio median %.3f" % (os.environ["GOTHREADS_SPIN"], statistics.median(r)), [round(x, 2) for x in r])
PY
done
