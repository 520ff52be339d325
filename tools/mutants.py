#!/usr/bin/env python3
"""Mutation testing of the differential harness (tests/differential.py).

For each mutant of tools/mutants_catalog.py: copy this checkout's source tree (its
tracked and untracked-but-not-ignored files, as they are in the working tree) into a
temporary folder, apply the mutant (an exact text replacement whose old snippet must
occur exactly once, else the mutant is STALE), build the extension in place there, and
run the harness against that build:

    python HARNESS --fuzz N --seed S --no-shrink --kind K      (PYTHONPATH=<mutated tree>)

for each kind (futures, then maps), stopping at the first kind that kills.  The harness
comes from ``--harness`` (default: this checkout's tests/differential.py), so an
improved harness can be measured against the same mutants.

Before the mutants, the unmutated tree must survive a short fuzz (``--sanity`` programs
per kind): a harness that fails the original code says nothing about mutants.

    python tools/mutants.py                     # every mutant, 100 programs per kind
    python tools/mutants.py --only NAME --programs 20 --seed 3
    python tools/mutants.py --list
    python tools/mutants.py --json build/mutants.json

Statuses: killed (the harness found a divergence, a hang included), survived, stale
(the snippet is not there exactly once), build-failed, harness-error (the harness
could not run: exit 2, cannot import gothreads, or an unexpected exit), timeout (the
per-mutant safety net, --timeout seconds, ran out: counted as killed, as a hang).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from mutants_catalog import CATALOG  # noqa: E402

KINDS = ("futures", "maps", "features")
KILLED_RE = re.compile(r"^KILLED kind=(\w+) programs=(\d+)", re.M)
SURVIVED_RE = re.compile(r"^survived kind=(\w+) programs=(\d+)", re.M)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def source_files(root):
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, check=True, capture_output=True).stdout.decode()
    return sorted({p for p in out.split("\0") if p and os.path.isfile(os.path.join(root, p))})


def copy_tree(root, dest):
    for rel in source_files(root):
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(root, rel), target)


def apply(tree, mutant):
    """Apply mutant in tree: None, or why it is stale."""
    path = os.path.join(tree, mutant.file)
    if not os.path.isfile(path):
        return f"{mutant.file} does not exist"
    with open(path) as f:
        text = f.read()
    n = text.count(mutant.old)
    if n != 1:
        return f"old snippet occurs {n} times in {mutant.file}"
    with open(path, "w") as f:
        f.write(text.replace(mutant.old, mutant.new))
    return None


def build(tree, timeout):
    """Build in place: (ok, log tail)."""
    env = dict(os.environ)
    env.pop("GOTHREADS_DEBUG", None)
    try:
        p = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tree,
                           env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "build timed out"
    return p.returncode == 0, (p.stdout + p.stderr)[-3000:]


def run_harness(harness, tree, kind, programs, seed, timeout):
    """One harness run: (status, programs, output tail, seconds)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = tree
    env.pop("GOTHREADS_FUZZ_TARGET", None)
    cmd = [sys.executable, harness, "--fuzz", str(programs), "--seed", str(seed),
           "--no-shrink", "--kind", kind]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=os.path.dirname(harness), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return "timeout", None, (out or "")[-4000:], time.monotonic() - t0
    secs = time.monotonic() - t0
    m = KILLED_RE.search(out)
    if proc.returncode == 1 and m:
        return "killed", int(m.group(2)), out[m.start():][:4000], secs
    m = SURVIVED_RE.search(out)
    if proc.returncode == 0 and m:
        return "survived", int(m.group(2)), "", secs
    return "harness-error", None, f"exit {proc.returncode}\n{out[-4000:]}", secs


def run_one(mutant, args, deadline_s):
    """Build the tree (mutated, unless mutant is None) and fuzz it."""
    name = mutant.name if mutant else "(unmutated)"
    rec = {"name": name, "file": mutant.file if mutant else None,
           "desc": mutant.desc if mutant else None,
           "status": None, "kind": None, "programs": None, "seconds": 0.0, "runs": []}
    t0 = time.monotonic()
    tree = tempfile.mkdtemp(prefix="gt-mutant-", dir=args.tmp)
    try:
        copy_tree(ROOT, tree)
        if mutant is not None:
            why = apply(tree, mutant)
            if why:
                rec.update(status="stale", detail=why)
                return rec
        ok, out = build(tree, 600)
        if not ok:
            rec.update(status="build-failed", detail=out)
            return rec
        rec["build_seconds"] = round(time.monotonic() - t0, 1)
        for kind in args.kinds:
            left = deadline_s - (time.monotonic() - t0)
            if left <= 0:
                rec.update(status="timeout", kind=kind)
                break
            status, progs, tail, secs = run_harness(
                args.harness, tree, kind, args.sanity if mutant is None else args.programs,
                args.seed, left)
            rec["runs"].append({"kind": kind, "status": status, "programs": progs,
                                "seconds": round(secs, 1)})
            if status != "survived":
                rec.update(status=status, kind=kind, programs=progs, detail=tail)
                break
        else:
            rec.update(status="survived", programs=rec["runs"][-1]["programs"])
        return rec
    finally:
        rec["seconds"] = round(time.monotonic() - t0, 1)
        if args.keep:
            rec["tree"] = tree
        else:
            shutil.rmtree(tree, ignore_errors=True)


def table(results):
    lines = ["| mutant | status | kind | programs | seconds |",
             "|---|---|---|---|---|"]
    for r in results:
        progs = r["programs"] if r["programs"] is not None else ""
        if r["status"] == "survived":
            progs = "+".join(str(x["programs"]) for x in r["runs"])
        lines.append(f"| {r['name']} | {r['status']} | {r['kind'] or ''} | {progs} | "
                     f"{r['seconds']:.0f} |")
    counts = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    live = killed + counts.get("survived", 0)
    score = f"{killed}/{live} killed" + (f" ({100 * killed / live:.0f}%)" if live else "")
    lines.append("")
    lines.append(score + "; " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run this mutant (repeatable); default: all")
    ap.add_argument("--programs", type=int, default=100, help="programs per kind (100)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--harness", default=os.path.join(ROOT, "tests", "differential.py"),
                    help="the differential harness to run (default: this checkout's)")
    ap.add_argument("--kind", dest="kinds", action="append", choices=KINDS,
                    help="kinds to fuzz, in order (default: futures, maps, features)")
    ap.add_argument("--json", metavar="FILE", help="write the results here")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--sanity", type=int, default=10,
                    help="programs per kind the unmutated tree must survive first (10)")
    ap.add_argument("--no-sanity", action="store_true", help="skip that check")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds per mutant, build and every kind (1800)")
    ap.add_argument("--tmp", default=None, help="where the trees go (default: $TMPDIR or /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the mutated trees")
    args = ap.parse_args(argv)
    args.harness = os.path.abspath(args.harness)
    args.kinds = args.kinds or list(KINDS)

    if args.list:
        for m in CATALOG:
            print(f"{m.name}  [{m.file}]\n    {m.desc}")
        print(f"{len(CATALOG)} mutants")
        return 0

    names = {m.name for m in CATALOG}
    if len(names) != len(CATALOG):
        ap.error("duplicate mutant names in the catalog")
    unknown = [n for n in args.only or [] if n not in names]
    if unknown:
        ap.error(f"unknown mutants: {', '.join(unknown)} (see --list)")
    chosen = [m for m in CATALOG if not args.only or m.name in args.only]
    if not os.path.isfile(args.harness):
        ap.error(f"no harness at {args.harness}")

    log(f"harness {args.harness}; {len(chosen)} mutants, {args.programs} programs per kind "
        f"({', '.join(args.kinds)}), seed {args.seed}")
    sanity = None
    if not args.no_sanity:
        log(f"sanity: the unmutated tree, {args.sanity} programs per kind ...")
        sanity = run_one(None, args, args.timeout)
        if sanity["status"] != "survived":
            log(f"ABORT: the unmutated tree did not survive the harness "
                f"({sanity['status']}):\n{sanity.get('detail', '')}")
            if args.json:
                _write_json(args, sanity, [])
            return 3
        log(f"sanity: survived ({sanity['seconds']:.0f} s)")

    results = []
    for k, m in enumerate(chosen, 1):
        log(f"[{k}/{len(chosen)}] {m.name} ...")
        rec = run_one(m, args, args.timeout)
        results.append(rec)
        extra = f" kind={rec['kind']} programs={rec['programs']}" if rec["kind"] else ""
        log(f"[{k}/{len(chosen)}] {m.name}: {rec['status'].upper()}{extra} "
            f"({rec['seconds']:.0f} s)" +
            (f": {rec.get('detail', '')[:300]}" if rec["status"] in
             ("stale", "build-failed", "harness-error") else ""))
        if args.json:
            _write_json(args, sanity, results)  # as it goes: a long run can be read early
    print(table(results))
    if args.json:
        _write_json(args, sanity, results)
    return 0


def _write_json(args, sanity, results):
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    doc = {"harness": args.harness, "programs": args.programs, "seed": args.seed,
           "kinds": args.kinds, "python": sys.version.split()[0],
           "commit": _commit(), "sanity": sanity, "mutants": results}
    tmp = args.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, args.json)


def _commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip() or None
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
