"""Build of gothreads' extension: the C runtime (csrc/), the assembly for this OS/arch,
the Cython bridge (gothreads/_runtime.pyx), and the executor's compiled half
(gothreads/_pool.pyx).

setuptools does not compile .S files, and the raw-M sources need flags of their own
(no stack protector: a raw thread has no TCB to hold the canary), so build_ext is
extended here.  Unsupported platforms fail at once with a clear message.

GOTHREADS_DEBUG=1 builds with -O0 -g and assertions on; other builds carry no debug
information.
GOTHREADS_TARGET_MACHINE=aarch64 (or x86_64) picks the sources for that machine instead
of this one's, for a cross build (tools/build-wheel).
"""
import os
import platform
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def source_lists():
    """csrc/sources.mk, the Makefile's list of the C sources: {NAME: [files]}."""
    lists = {}
    with open(os.path.join(HERE, "csrc", "sources.mk")) as f:
        for line in f:
            name, eq, files = line.partition("=")
            if eq and not line.startswith("#"):
                lists[name.strip()] = files.split()
    return lists


SOURCES = source_lists()
# (sys.platform, machine) -> the OS file and the arch file that implement runtime.h's
# contracts.  macOS has its OS file (csrc/os_darwin.c, not ported: see its plan).
PLATFORMS = {
    ("linux", machine): (SOURCES["OS_SRC_linux"], SOURCES[f"ASM_SRC_linux_{machine}"])
    for machine in ("x86_64", "aarch64")
}
MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def platform_sources():
    machine = (os.environ.get("GOTHREADS_TARGET_MACHINE") or platform.machine()).lower()
    key = (sys.platform, MACHINE_ALIASES.get(machine, machine))
    if key not in PLATFORMS:
        supported = ", ".join(f"{os_}/{arch}" for os_, arch in PLATFORMS)
        sys.exit(
            f"gothreads: unsupported platform {key[0]}/{key[1]}; supported: {supported}. "
            "macOS has a place reserved (csrc/os_darwin.c) but is not ported yet."
        )
    return key, PLATFORMS[key]


KEY, (OS_SRC, ASM_SRC) = platform_sources()
CORE_SRC = SOURCES["CORE_SRC"] + OS_SRC + ASM_SRC
RAW_SRC = SOURCES["RAW_SRC"]
RAW_FLAGS = ["-fno-stack-protector"] + (["-mno-outline-atomics"] if KEY[1] == "aarch64" else [])
DEBUG = os.environ.get("GOTHREADS_DEBUG") == "1"
# Hidden: the extension exports only its PyInit_* (PyMODINIT_FUNC says so), and every
# call between runtime files is direct.  A call through the PLT could run ld.so's lazy
# resolver on a raw M, which has no TCB (tests/test_build.py checks the built .so).
# -g0: no debug information (what strip -g takes out, a fifth of the wheel's size),
# rather than stripping at link time: zig's linker would take the symbol table too,
# which tests/test_build.py reads.  These flags come after Python's own -g.
CFLAGS = ["-std=gnu11", "-Wall", "-Wno-unused-function", "-fvisibility=hidden"] + (
    ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O2", "-g0"]
)


def long_description():
    """README.md for the package index, less its image: the image is a path in this
    tree, which an index cannot show, and there is no public address to give instead."""
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        return "".join(line for line in f if not line.startswith("!["))


class BuildExt(build_ext):
    def build_extensions(self):
        if ".S" not in self.compiler.src_extensions:
            self.compiler.src_extensions.append(".S")
        super().build_extensions()

    def build_extension(self, ext):
        if ext.name != "gothreads._runtime":
            return super().build_extension(ext)
        # The raw-M files get their own flags, so they are compiled here and linked in.
        objects = self.compiler.compile(
            RAW_SRC,
            output_dir=self.build_temp,
            macros=ext.define_macros,
            include_dirs=ext.include_dirs,
            debug=self.debug,
            extra_postargs=CFLAGS + RAW_FLAGS,
        )
        ext.extra_objects = list(ext.extra_objects or []) + objects
        super().build_extension(ext)


def extensions():
    from Cython.Build import cythonize

    ext = Extension(
        "gothreads._runtime",
        sources=["gothreads/_runtime.pyx", "gothreads/gil_probe.c"] + CORE_SRC,
        include_dirs=["csrc", "gothreads"],
        define_macros=[("GT_HAVE_RAW_M", "1")],
        extra_compile_args=CFLAGS,
        libraries=["pthread"],
    )
    # The executor's compiled half: pure Cython, no C runtime of its own.  It reaches the
    # runtime through _runtime's C methods (gothreads/_runtime.pxd), whose types it
    # needs (csrc/gothreads.h), never by linking the runtime a second time.
    pool = Extension("gothreads._pool", sources=["gothreads/_pool.pyx"], include_dirs=["csrc"],
                     extra_compile_args=CFLAGS)
    return cythonize(
        [ext, pool],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False},
    )


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
    long_description=long_description(),
    long_description_content_type="text/markdown",
)
