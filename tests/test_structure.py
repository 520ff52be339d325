"""The seams HACKING.md describes, checked: the pool imports no gothreads Python module
but the bridge, and no module writes another's private attributes.

These read the sources, so they need a source tree (the tests run from one)."""
import ast
import os
import re

import pytest

PKG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gothreads")

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PKG, "_pool.pyx")),
                                reason="needs the source tree")


def source(name):
    with open(os.path.join(PKG, name)) as f:
        return f.read()


def gothreads_imports(text):
    """The gothreads modules a .py or .pyx source imports or cimports."""
    found = set()
    for m in re.finditer(r"^\s*(?:from\s+(gothreads[\w.]*)\s+c?import\s+([\w, ]+)|"
                         r"c?import\s+(gothreads[\w.]*))", text, re.M):
        if m.group(1):
            base = m.group(1)
            names = [n.strip() for n in m.group(2).split(",")]
            found.update(base if base != "gothreads" else f"gothreads.{n}" for n in names)
        else:
            found.add(m.group(3))
    return found


def test_the_pool_imports_only_the_bridge():
    assert gothreads_imports(source("_pool.pyx")) <= {"gothreads._runtime"}


def test_the_import_checker_sees_an_import():
    # (negative control for the test above)
    assert gothreads_imports("from gothreads import executor, _runtime\n") == {
        "gothreads.executor", "gothreads._runtime"}
    assert gothreads_imports("from gothreads._worker import x\n") == {"gothreads._worker"}


def own_attributes(tree):
    """Private attribute names a module defines: in a class's __slots__, or written
    through self/cls in its own methods."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if (isinstance(t, ast.Name) and t.id == "__slots__" and
                        isinstance(node.value, (ast.Tuple, ast.List))):
                    names.update(e.value for e in node.value.elts if isinstance(e, ast.Constant))
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for t in targets:
            if (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and
                    t.value.id in ("self", "cls")):
                names.add(t.attr)
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:  # class attributes
                for t in (stmt.targets if isinstance(stmt, ast.Assign) else
                          [stmt.target] if isinstance(stmt, ast.AnnAssign) else []):
                    if isinstance(t, ast.Name):
                        names.add(t.id)
    return names


def foreign_private_writes(text):
    """Writes `x._name = ...` (or setattr(x, "_name", ...)) to a private attribute
    that this module does not define itself, on anything but self/cls."""
    tree = ast.parse(text)
    own = own_attributes(tree)
    bad = []
    for node in ast.walk(tree):
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for t in targets:
            if (isinstance(t, ast.Attribute) and t.attr.startswith("_") and
                    not t.attr.startswith("__") and t.attr not in own and
                    not (isinstance(t.value, ast.Name) and t.value.id in ("self", "cls"))):
                bad.append(f"line {t.lineno}: .{t.attr}")
    return bad


# What gothreads writes of other packages' private state, on purpose: threading's
# registry of threads (as threading's own Thread subclasses do), distributed's thread
# state (what its own worker loop sets).
ALLOWED = {"dask.py": {"thread_state"}}


@pytest.mark.parametrize("name", sorted(n for n in (os.listdir(PKG) if os.path.isdir(PKG) else [])
                                         if n.endswith(".py")))
def test_no_module_writes_another_modules_private_attributes(name):
    bad = [b for b in foreign_private_writes(source(name))
           if b.split(".", 1)[1] not in ALLOWED.get(name, ())]
    assert bad == [], f"{name} writes private attributes it does not define: {bad}"


def test_the_write_checker_sees_a_foreign_write():
    # (negative control: what the pool did before the seam was cut)
    assert foreign_private_writes("def f(s):\n    s.thread._slot = None\n") == ["line 2: ._slot"]
    assert foreign_private_writes(
        "class W:\n    def __init__(self):\n        self._slot = 1\n"
        "def f(w):\n    w._slot = None\n") == []


def pyx_foreign_private_writes(text):
    """foreign_private_writes for Cython: a write `x._name = ` to an attribute that no
    cdef class of the file declares."""
    declared = set()
    for m in re.finditer(r"^\s+cdef (?:public |readonly )?\w+ ([\w, ]+)", text, re.M):
        declared.update(n.strip() for n in m.group(1).split(","))
    bad = []
    for i, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        for m in re.finditer(r"\b(\w+)\)?\.(_[a-z]\w*)\s*=(?!=)", code):
            if m.group(1) not in ("self", "cls") and m.group(2) not in declared:
                bad.append(f"line {i}: .{m.group(2)}")
    return bad


@pytest.mark.parametrize("name", ["_pool.pyx", "_runtime.pyx"])
def test_no_compiled_module_writes_another_modules_private_attributes(name):
    assert pyx_foreign_private_writes(source(name)) == []


def test_the_pyx_write_checker_sees_a_foreign_write():
    text = "cdef class F:\n    cdef public object _state\n\ncdef f(x, F y):\n"
    assert pyx_foreign_private_writes(text + "    x._name = 1\n") == ["line 5: ._name"]
    assert pyx_foreign_private_writes(text + "    y._state = 1\n    x._name == 1\n") == []
