"""Two builds of gothreads against each other, paired: ``python bench/ab_trees.py
BEFORE AFTER [ROUNDS]`` runs the scenarios below for the gothreads built in place in
each tree (``python setup.py build_ext --inplace`` there first), alternating child
processes round by round (the order flips each round), and prints per scenario the
medians and the ratio after/before: its median and its spread (lowest and highest
ratio of one round).  For a change to the pool's hot path, where the stdlib is not the
question (python -m gothreads compares with the stdlib).  Each child imports only its
own tree's gothreads."""
import json
import os
import statistics
import subprocess
import sys

CHILD = r'''
import json
import gothreads
from gothreads import scenarios as s
E = gothreads.ThreadPoolExecutor
out = {}
for name, fn, n in [("tight loop", s.seq_submit, 20000), ("bulk submit", s.bulk_submit, 50000),
                    ("map", s.map_noop, 50000), ("paced 2000/s noop", s.paced(2000, s.noop), 2000),
                    ("paced 200/s 50us", s.paced(200, s.work_50us), 300)]:
    m = fn(E, n)
    out[name] = [m.wall, m.cpu] + ([m.p50] if m.p50 else [])
print(json.dumps(out))
'''


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    trees = {"before": os.path.abspath(sys.argv[1]), "after": os.path.abspath(sys.argv[2])}
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    res = {k: [] for k in trees}
    for r in range(rounds):
        for k in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
            p = subprocess.run([sys.executable, "-c", CHILD], cwd="/",
                               env=dict(os.environ, PYTHONPATH=trees[k]),
                               capture_output=True, text=True, timeout=600)
            if p.returncode:
                sys.exit(f"{k} ({trees[k]}) failed:\n{p.stderr}")
            res[k].append(json.loads(p.stdout))
        print(f"round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    print(f"{'scenario':20} {'':5} {'before us':>10} {'after us':>10}  after/before (spread)")
    for name in res["before"][0]:
        for j, metric in enumerate(["wall", "cpu", "p50"][:len(res["before"][0][name])]):
            b = [x[name][j] for x in res["before"]]
            a = [x[name][j] for x in res["after"]]
            ratios = [ai / bi for ai, bi in zip(a, b)]
            print(f"{name:20} {metric:5} {statistics.median(b) * 1e6:10.2f} "
                  f"{statistics.median(a) * 1e6:10.2f}  {statistics.median(ratios):.2f} "
                  f"({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
