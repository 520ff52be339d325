"""The package as pip installs it: its metadata, and what importing it says where its
compiled parts are missing."""
import os
import shutil
import subprocess
import sys
from importlib import metadata

import gothreads


def test_version_is_one_value():
    # pyproject.toml reads gothreads.__version__ (setuptools dynamic): one place.
    assert metadata.version("gothreads") == gothreads.__version__


def test_license_metadata():
    meta = metadata.metadata("gothreads")
    assert meta["License-Expression"] == "MIT"
    files = metadata.files("gothreads") or []
    assert any(f.name == "LICENSE" for f in files), [str(f) for f in files]


def test_no_sources_installed():
    # The wheel carries the built extensions, not the .pyx or the C they were made from.
    names = [str(f) for f in metadata.files("gothreads") or []]
    assert not [n for n in names if n.endswith((".c", ".h", ".pyx", ".S"))], names


def test_unbuilt_source_tree_says_what_to_do(tmp_path):
    # A copy of the package without its extensions, first on sys.path, as in a source
    # checkout that was never built.
    pkg = tmp_path / "gothreads"
    shutil.copytree(os.path.dirname(gothreads.__file__), pkg,
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    p = subprocess.run([sys.executable, "-c", "import gothreads"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: "), p.stderr
    assert "partially initialized" not in p.stderr, p.stderr
    assert "build_ext --inplace" in last and "make build" in last, last
    assert "outside the source tree" in last, last
