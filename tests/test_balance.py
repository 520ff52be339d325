"""The runtime balance check that conftest.py runs after every test (it fails a test
that leaks), and the rule that product code never imports the test hooks."""
import ast
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(os.path.dirname(HERE), "gothreads")


def test_the_balance_check_fails_a_test_that_leaks():
    env = dict(os.environ, GOTHREADS_BALANCE_TIMEOUT="1")
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "leak_probe.py"],
        cwd=HERE, capture_output=True, text=True, timeout=300, env=env)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "ERROR leak_probe.py::test_leaves_an_executor_running" in out, out
    assert "ERROR leak_probe.py::test_leaves_a_python_m_parked" in out, out
    assert "1 M(s) still live" in out and "thread(s) more than before" in out, out
    assert "test_opted_out" not in out and "test_shuts_down" not in out, out
    assert "4 passed, 2 errors" in out, out


def _imports(path):
    with open(path) as f:
        src = f.read()
    if path.endswith(".py"):
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Import):
                yield from (a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                yield node.module or ""
                yield from (f"{node.module}.{a.name}" for a in node.names)
    else:  # .pyx/.pxd: no AST here; a (c)import line that names it counts
        if re.search(r"^\s*(from|c?import)\s.*_testing", src, re.M):
            yield "gothreads._testing"


@pytest.mark.skipif(not os.path.exists(os.path.join(PACKAGE, "_pool.pyx")),
                    reason="needs the source tree (the tests also run against installed wheels)")
def test_product_code_never_imports_the_test_hooks():
    names = [n for n in sorted(os.listdir(PACKAGE))
             if n.endswith((".py", ".pyx", ".pxd", ".pyi")) and n != "_testing.py"]
    names += [os.path.join("includes", n) for n in os.listdir(os.path.join(PACKAGE, "includes"))]
    assert "executor.py" in names and "_pool.pyx" in names
    bad = [n for n in names if any(i.endswith("_testing") or i == "gothreads._testing"
                                   for i in _imports(os.path.join(PACKAGE, n)))]
    assert bad == [], bad
