"""Run CPython's own thread-pool tests with gothreads.ThreadPoolExecutor substituted.

    python tests/conformance/run_cpython_suite.py [PYTHON]

PYTHON (default: this interpreter) must have gothreads installed.  The tests are loaded
from that interpreter's own installed `test` package (never copied here).  A throwaway
venv gets a .pth file that replaces concurrent.futures.ThreadPoolExecutor before any
test imports it, also in the `python -I` subprocesses some tests start.  Exits 0 only
if every selected test ran and passed, and as many ran as this version is known to have.
"""
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import textwrap

CLASSES = [
    "ThreadPoolExecutorTest",
    "ThreadPoolShutdownTest",
    "ThreadPoolWaitTests",
    "ThreadPoolAsCompletedTest",
    "ThreadPoolInitializerTest",
    "ThreadPoolFailingInitializerTest",
    "FutureTests",
]
# How many tests those classes hold, per version (a guard against silently running fewer).
EXPECTED = {(3, 9): 63, (3, 10): 65, (3, 13): 65, (3, 14): 76}

SUBSTITUTE = '''\
import concurrent.futures
import gothreads
concurrent.futures.ThreadPoolExecutor = gothreads.ThreadPoolExecutor
'''

# Runs inside the substituted interpreter: find the classes, run them, report.
RUNNER = textwrap.dedent('''
    import importlib, pkgutil, sys, unittest
    import concurrent.futures, gothreads
    assert concurrent.futures.ThreadPoolExecutor is gothreads.ThreadPoolExecutor, "not substituted"
    names = set(sys.argv[1].split(","))
    pkg = importlib.import_module("test.test_concurrent_futures")
    mods = [pkg]
    if hasattr(pkg, "__path__"):
        mods += [importlib.import_module(f"{pkg.__name__}.{m.name}")
                 for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("test_")]
    suite, found = unittest.TestSuite(), set()
    loader = unittest.TestLoader()
    for mod in mods:
        for name in sorted(names):
            cls = getattr(mod, name, None)
            if cls is not None and cls.__module__ == mod.__name__:
                # Module-level fixtures (setUpModule) come with the module's tests.
                suite.addTests(loader.loadTestsFromName(f"{mod.__name__}.{name}"))
                found.add(name)
    missing = names - found
    assert not missing, f"test classes not found: {missing}"
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    print()
    print(f"CPYTHON-SUITE ran={result.testsRun} failures={len(result.failures)} "
          f"errors={len(result.errors)} skipped={len(result.skipped)}")
    sys.exit(0 if result.wasSuccessful() else 1)
''')


def site_packages(python):
    out = subprocess.run([python, "-c", "import gothreads, os; print(os.path.dirname(os.path.dirname(gothreads.__file__)))"],
                         capture_output=True, text=True, check=True, cwd="/")
    return out.stdout.strip()


def main():
    python = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else sys.executable
    version = tuple(int(x) for x in subprocess.run(
        [python, "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True, text=True, check=True).stdout.split())
    gt_site = site_packages(python)
    with tempfile.TemporaryDirectory(prefix="gothreads-cpython-suite-") as tmp:
        venv = os.path.join(tmp, "venv")
        subprocess.run([python, "-m", "venv", "--without-pip", venv], check=True)
        vpython = os.path.join(venv, "bin", "python")
        purelib = subprocess.run([vpython, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        with open(os.path.join(purelib, "gothreads_substitute.py"), "w") as f:
            f.write(SUBSTITUTE)
        with open(os.path.join(purelib, "zz_gothreads_substitute.pth"), "w") as f:
            f.write(gt_site + "\nimport gothreads_substitute\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        p = subprocess.run([vpython, "-c", RUNNER, ",".join(CLASSES)], env=env, cwd=tmp,
                           text=True, capture_output=True, timeout=1200)
    sys.stdout.write(p.stderr[-20000:])
    sys.stdout.write(p.stdout)
    m = re.findall(r"CPYTHON-SUITE ran=(\d+)", p.stdout)
    ran = int(m[-1]) if m else -1
    expected = EXPECTED.get(version)
    print(f"CPython {version[0]}.{version[1]} thread-pool suite with gothreads: ran {ran}, "
          f"expected {expected}, exit {p.returncode}")
    if p.returncode != 0:
        return 1
    if expected is not None and ran != expected:
        print("the number of tests run differs from what this version holds")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
