"""python -m gothreads: the main job runs, prints its table, writes JSON, and --plot
either draws or says clearly that matplotlib is missing."""
import importlib.util
import json
import os
import subprocess
import sys


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERDICTS = {"met", "at par", "missed"}


def run(*args, timeout=300, columns=None):
    # As `make demo` runs it: from the repository root, where a source tree without the
    # built extension sits, so -I keeps the current directory off sys.path.
    env = dict(os.environ)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-I", "-m", "gothreads", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def test_quick_table_and_json(tmp_path):
    from gothreads import scenarios
    out = tmp_path / "r.json"  # noqa: the child runs in REPO, so paths are absolute
    p = run("--quick", "--rounds", "2", "--json", str(out), columns=100)
    assert p.returncode == 0, p.stderr
    assert "result" in p.stdout and "burst of 64" in p.stdout and "load average" in p.stdout
    assert "Ms (the runtime's" in p.stdout
    # Fits a terminal of 100 columns, COLUMNS being what the program goes by.
    wide = [line for line in p.stdout.splitlines() if len(line) > 100]
    assert not wide, wide
    steps = [line for line in p.stderr.splitlines() if line.startswith("[")]
    done, total = steps[-1][1:].split("]")[0].split("/")
    assert done == total, steps[-1]  # the progress counter ends at its total
    assert all(" left: " in line for line in steps), steps[0]
    res = json.loads(out.read_text())
    for key in ("gothreads", "python", "machine", "time", "units"):
        assert res[key], key
    assert res["schema_version"] == 2 and res["kind"] == "table" and res["rounds"] == 2
    ids = [r["id"] for r in res["rows"]]
    want = [sc.id for sc in scenarios.SCENARIOS]
    if not res["numpy"]:
        want.remove("numpy_sort")
    assert ids == want + ["thread_churn"]
    names = {r["id"]: r["scenario"] for r in res["rows"]}
    assert names["seq_submit"] == "submit(noop).result(), 1 worker"  # display string apart
    assert names["paced_200_noop"].startswith("paced 200/s")
    for r in res["rows"]:
        assert r["id"].replace("_", "").isalnum() and r["id"].islower(), r["id"]
        assert r["scenario"] in p.stdout
        time_key = "p50" if r["latency"] else "wall"
        for impl in ("stdlib", "gothreads"):
            assert len(r["rounds"][impl]) == 2
            for m in r["rounds"][impl]:
                assert m["wall"] > 0 and m["cpu"] > 0
                assert (m["p50"] is not None) == r["latency"]
        for k in ("time", "cpu"):
            assert r["stdlib"][k] > 0 and r["gothreads"][k] > 0
            assert abs(r["ratio"][k] - r["gothreads"][k] / r["stdlib"][k]) < 1e-9
            key = time_key if k == "time" else "cpu"
            per_round = [g[key] / s[key] for s, g in zip(r["rounds"]["stdlib"],
                                                         r["rounds"]["gothreads"])]
            assert r["round_ratios"][k] == per_round
            assert r["spread"][k] == [min(per_round), max(per_round)]
            assert r["verdicts"][k] in VERDICTS or (r["verdicts"][k] is None
                                                    and r["goal"][k] is None)
        assert r["verdict"] in VERDICTS
        if r["latency"]:
            assert r["gothreads"]["p99"] >= r["gothreads"]["time"]
    assert res["burst"]["gothreads"]["threads_after_idle"] <= res["burst"]["gothreads"]["threads_before"]
    for impl in ("stdlib", "gothreads"):
        assert res["burst"][impl]["quiet_wakeups"] >= 0 and res["burst"][impl]["quiet_cpu_us"] >= 0
    assert "wakeups" in p.stdout


def synthetic_result(rounds=3):
    """A result as run() makes it, from made-up samples (no benchmark runs)."""
    from gothreads import demo, scenarios
    M = scenarios.Measure
    rows = []
    for i, sc in enumerate(scenarios.SCENARIOS):
        lat = sc.name in scenarios.LATENCY_SCENARIOS
        samples = {impl: [M(k * 1e-5 * (1 + r * d), k * 2e-5, k * 1e-5 * (1 - r * d) if lat
                            else None, k * 9e-5 if lat else None) for r in range(rounds)]
                   for impl, k, d in (("stdlib", 10 + i, 0.05), ("gothreads", 9 + i % 3, 0.2))}
        rows.append(demo.row(sc.id, sc.name, sc.n_quick, samples,
                             {"time": sc.goal_time, "cpu": sc.goal_cpu}, lat))
    rows[-1].update(vs_serial=1.51, stdlib_vs_serial=1.57)
    burst = {impl: dict(threads_before=3, threads_peak=67, threads_after_idle=66,
                        stack_bytes_after_idle=0, quiet_wakeups=0, quiet_cpu_us=84.75)
             for impl in ("stdlib", "gothreads")}
    return {"rows": rows, "burst": burst, "rounds": rounds, "numpy": True, "python": "3.11.7",
            "machine": {"usable_cpus": 2, "loadavg_start": 0.53, "loadavg_end": 10.73}}


def test_table_fits_the_width():
    from gothreads import demo
    res = synthetic_result()
    for width in (100, 80, 60, 200):
        lines = demo.table(res, width)
        wide = [line for line in lines if len(line) > width]
        assert not wide, (width, wide)
    # Narrower, each name has a line of its own, above its numbers.
    for width in (80, 60):
        lines = demo.table(res, width)
        for r in res["rows"]:
            assert r["scenario"] in lines, (width, r["scenario"])
    # At 100 columns and more, each name sits on its row, beside its numbers.
    for width in (100, 200):
        lines = demo.table(res, width)
        for r in res["rows"]:
            assert any(line.startswith(r["scenario"] + " ") for line in lines), r["scenario"]
    assert max(len(line) for line in demo.table(res, 200)) <= 110   # no padding to the width
    # A loaded machine widens the spreads (CI met "0.16-14.53" on 3.13): at 100 columns
    # the names no longer fit beside the numbers, and each keeps a line of its own,
    # whole, rather than wrapping beside them.
    r0 = res["rows"][1]
    r0["spread"]["time"] = [0.16, 14.53]
    r0["spread"]["cpu"] = [0.16, 14.53]
    lines = demo.table(res, 100)
    assert not [line for line in lines if len(line) > 100]
    for r in res["rows"]:
        assert r["scenario"] in lines, r["scenario"]


def test_verdicts():
    from gothreads.demo import judge, verdict
    # The spread contains the goal: at par, wherever the median lies.
    assert judge(1.05, (0.95, 1.23), 1.0) == "at par"
    assert judge(0.97, (0.95, 1.23), 1.0) == "at par"
    # The whole spread below the goal: met; above it: missed.
    assert judge(0.90, (0.85, 0.95), 1.0) == "met"
    assert judge(1.10, (1.05, 1.20), 1.0) == "missed"
    # As printed, two decimals: 1.004 is 1.00, which reaches a goal of 1.00.
    assert judge(1.004, (0.99, 1.004), 1.0) == "met"
    assert judge(1.006, (1.006, 1.02), 1.0) == "missed"
    # The ratio of the medians counts even where no single round's ratio equals it.
    assert judge(1.01, (0.90, 0.99), 1.0) == "at par"
    # One round: no spread, so met or missed.
    assert judge(0.8, (0.8, 0.8), 1.0) == "met" and judge(1.2, (1.2, 1.2), 1.0) == "missed"
    assert judge(5.0, (1.0, 9.0), None) is None
    assert verdict({"time": "met", "cpu": "at par"}) == ("at par", "at par: cpu")
    assert verdict({"time": "missed", "cpu": "at par"}) == ("missed", "missed: time")
    assert verdict({"time": "met", "cpu": None}) == ("met", "met")


def test_help_says_how_long():
    p = run("--help")
    assert p.returncode == 0
    assert "2-core VM" in p.stdout and "full run takes about" in p.stdout
    assert "``" not in p.stdout and ".py" not in p.stdout


def test_bad_arguments():
    p = run("--rounds", "0")
    assert p.returncode == 2 and "--rounds" in p.stderr
    p = run("--nonsense")
    assert p.returncode == 2


def test_plot_honours_quick_and_json(tmp_path):
    png, data = tmp_path / "burst.png", tmp_path / "burst.json"
    p = run("--plot", str(png), "--quick", "--json", str(data))
    if importlib.util.find_spec("matplotlib") is None:
        assert p.returncode == 2
        assert "pip install 'gothreads[plot]'" in p.stderr
        assert not png.exists() and not data.exists()
        return
    assert p.returncode == 0, p.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 10000
    res = json.loads(data.read_text())
    assert res["schema_version"] == 2 and res["kind"] == "plot" and res["units"]
    assert res["quick"] is True and res["burst_width"] == 16
    for key in ("gothreads", "python", "machine", "time"):
        assert res[key], key
    for impl in ("stdlib", "gothreads"):
        tr = res["traces"][impl]
        assert len(tr["bursts"]) == 2
        peak = max(threads for _, threads, _ in tr["samples"])
        # Quick: bursts of 16, not 64 (numpy's BLAS threads add a few).
        assert 16 <= peak < 64, peak
        assert all(rss > 0 for _, _, rss in tr["samples"])


def test_paced_paired_measures_both_executors_at_the_pace():
    from gothreads import scenarios
    rate, n = 2000, 40
    got = scenarios.paced_paired(rate, scenarios.noop)(n)
    assert set(got) == set(scenarios.IMPLS)
    for m in got.values():
        assert m.cpu > 0 and 0 < m.p50 <= m.p99
        # Each request waits for its turn, so a block cannot run faster than the pace.
        assert m.wall >= 0.9 / rate, m
