"""python -m gothreads: the main job runs, prints its table, writes JSON, and --plot
either draws or says clearly that matplotlib is missing."""
import importlib.util
import json
import os
import subprocess
import sys


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, timeout=300):
    # As `make demo` runs it: from the repository root, where a source tree without the
    # built extension sits, so -I keeps the current directory off sys.path.
    return subprocess.run([sys.executable, "-I", "-m", "gothreads", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_quick_table_and_json(tmp_path):
    out = tmp_path / "r.json"  # noqa: the child runs in REPO, so paths are absolute
    p = run("--quick", "--rounds", "1", "--json", str(out))
    assert p.returncode == 0, p.stderr
    assert "verdict" in p.stdout and "burst of 64" in p.stdout and "load average" in p.stdout
    steps = [line for line in p.stderr.splitlines() if line.startswith("[")]
    done, total = steps[-1][1:].split("]")[0].split("/")
    assert done == total, steps[-1]  # the progress counter ends at its total
    res = json.loads(out.read_text())
    for key in ("gothreads", "python", "machine", "time"):
        assert res[key], key
    names = [r["scenario"] for r in res["rows"]]
    assert any("submit(noop).result()" in n for n in names)
    assert any(n.startswith("paced") for n in names)
    assert any("thread create" in n for n in names)
    for r in res["rows"]:
        for k in ("time", "cpu"):
            assert r["stdlib"][k] > 0 and r["gothreads"][k] > 0
            assert abs(r["ratio"][k] - r["gothreads"][k] / r["stdlib"][k]) < 1e-9
        assert r["verdict"] == "met" or r["verdict"].startswith("missed: ")
        if r["latency"]:
            assert r["gothreads"]["p99"] >= r["gothreads"]["time"]
    assert res["burst"]["gothreads"]["threads_after_idle"] <= res["burst"]["gothreads"]["threads_before"]
    for impl in ("stdlib", "gothreads"):
        assert res["burst"][impl]["quiet_wakeups"] >= 0 and res["burst"][impl]["quiet_cpu_us"] >= 0
    assert "wakeups" in p.stdout


def test_help_is_plain_text():
    p = run("--help")
    assert p.returncode == 0
    assert "``" not in p.stdout and ".py" not in p.stdout


def test_bad_arguments():
    p = run("--rounds", "0")
    assert p.returncode == 2 and "--rounds" in p.stderr
    p = run("--nonsense")
    assert p.returncode == 2


def test_plot(tmp_path):
    png = tmp_path / "burst.png"
    p = run("--plot", str(png))
    if importlib.util.find_spec("matplotlib") is None:
        assert p.returncode == 2
        assert "pip install 'gothreads[plot]'" in p.stderr
        assert not png.exists()
    else:
        assert p.returncode == 0, p.stderr
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 10000


def test_paced_paired_measures_both_executors_at_the_pace():
    from gothreads import scenarios
    rate, n = 2000, 40
    got = scenarios.paced_paired(rate, scenarios.noop)(n)
    assert set(got) == set(scenarios.IMPLS)
    for m in got.values():
        assert m.cpu > 0 and 0 < m.p50 <= m.p99
        # Each request waits for its turn, so a block cannot run faster than the pace.
        assert m.wall >= 0.9 / rate, m
