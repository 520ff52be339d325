"""The rule that product code never imports the test hooks (gothreads/_testing.py)."""
import ast
import os
import re

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gothreads")


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


def test_product_code_never_imports_the_test_hooks():
    names = [n for n in sorted(os.listdir(PACKAGE))
             if n.endswith((".py", ".pyx", ".pxd", ".pyi")) and n != "_testing.py"]
    names += [os.path.join("includes", n) for n in os.listdir(os.path.join(PACKAGE, "includes"))]
    assert "executor.py" in names and "_pool.pyx" in names
    bad = [n for n in names if any(i.endswith("_testing") or i == "gothreads._testing"
                                   for i in _imports(os.path.join(PACKAGE, n)))]
    assert bad == [], bad
