# gothreads -- developer targets.  The README's two commands are `make demo` and
# `make check`; CI runs `make check` through .ci/run.
#
#   make build      build the extension in place (for the default Python)
#   make debug      the same with debug C flags and assertions on (GOTHREADS_DEBUG=1)
#   make test       venv + pip install .[test] + pytest, for each of $(PYTHONS) and 3.14
#   make conformance CPython's thread-pool tests with gothreads substituted ($(SUITE_PYTHONS), 3.14)
#   make check-next pytest and the thread-pool suite on the next CPython (3.15, Debian
#                   experimental; not part of check)
#   make ctest      the C-level runtime test, plain build
#   make sanitize   the C-level test under ASan+UBSan, then under TSan
#   make cross-test the C-level test and its negative control for aarch64 under qemu
#   make macos-check the core and csrc/os_darwin.c compiled and linked for macOS (zig)
#   make dask-test  gothreads as the pool of a dask.distributed LocalCluster (the dask extra,
#                   in its own venv: .venv/dask), then make dask-suite
#   make dask-suite distributed's own tests of its worker and pool, with its pool and with
#                   gothreads', compared (tools/dask-suite; .venv/dask-suite; about 3 minutes)
#   make fuzz       the differential harness (tests/differential.py) with many programs
#   make mutants    mutation testing of that harness (tools/mutants.py, its catalog in
#                   tools/mutants_catalog.py): $(MUTANT_PROGRAMS) programs per kind, seed
#                   $(MUTANT_SEED), JSON in build/mutants.json (not part of check: about an hour)
#   make typecheck  mypy --strict on the package and the typing test (tests/typing), for 3.9 and 3.14
#   make dist-check the sdist, and a wheel built from it alone in a clean folder, installed
#   make wheels     the manylinux wheels, CPython 3.9-3.14, x86-64 and aarch64, into wheelhouse/,
#                   each checked (tools/check-wheel); caches under $(GOTHREADS_CACHE)
#   make wheel-test the wheels built and tested as users get them: x86-64 in fresh venvs,
#                   3.14 in the sid chroot, cp39 on glibc 2.31, aarch64 under qemu
#   make bench      the pytest-benchmark suites against the stdlib executor (JSON in bench/results)
#   make demo       venv + install + python -m gothreads (the main job)
#   make check      everything CI runs
#   make clean

PYTHONS ?= 3.9 3.10 3.11 3.12 3.13
# Versions whose pyenv build ships CPython's test package (3.11 and 3.12 do not).
SUITE_PYTHONS ?= 3.13 3.10 3.9
PY ?= 3.11
# The Python of the dask test's own venv (distributed from PyPI).
DASK_PY ?= 3.12
DASK_VENV = .venv/dask
# Versions pyenv does not have, run in a Debian sid chroot (tools/chroot-run).
CHROOT_PYTHONS ?= 3.14
NEXT_PYTHON ?= 3.15
CC ?= gcc
ARCH := $(shell uname -m)
VENV = .venv/py$(1)
pyexe = $(shell tools/find-python $(1))

# The C sources, one list for the Makefile and setup.py alike.
include csrc/sources.mk
CORE_SRC += $(OS_SRC_linux)
# Raw-M code: no stack protector, never sanitized (see csrc/m_raw.c).
RAW_CFLAGS = -fno-stack-protector -fno-sanitize=all
CWARN = -Wall -Wextra -Werror -std=gnu11
ASM_SRC = $(ASM_SRC_linux_$(ARCH))
ifeq ($(ARCH),aarch64)
RAW_CFLAGS += -mno-outline-atomics
endif
CTEST = tests/c/test_runtime.c tests/c/test_adapt.c
CYCLES ?= 100000
QEMU_CYCLES ?= 4000
TSAN_CYCLES ?= 20000
OUT = build/ctest

.PHONY: dask-test dask-suite build debug test conformance ctest sanitize cross-test fuzz bench demo check check-next clean tools \
	typecheck wheel-tools sdist dist-check wheels wheel-test wheel-build wheel-tests \
	wheel-pytest wheel-qemu arm64-roots sid-root bullseye-root mutants macos-check

build:
	python setup.py build_ext --inplace

debug:
	GOTHREADS_DEBUG=1 python setup.py build_ext --inplace --force

venv-%:
	@test -x $(call VENV,$*)/bin/python || $(call pyexe,$*) -m venv $(call VENV,$*)
	$(call VENV,$*)/bin/python -m pip install -q --upgrade pip
	$(call VENV,$*)/bin/python -m pip install -q '.[test]'

test-%: venv-%
	cd tests && ../$(call VENV,$*)/bin/python -m pytest -q -p no:cacheprovider .

test: $(addprefix test-,$(PYTHONS)) $(addprefix chroot-test-,$(CHROOT_PYTHONS))

CHROOT_INSTALL = pip install -q ".[test]"
chroot-test-%: tools
	tools/chroot-run $* '$(CHROOT_INSTALL) && cd tests && python -m pytest -q -p no:cacheprovider .'

chroot-conformance-%: tools
	tools/chroot-run $* '$(CHROOT_INSTALL) && python tests/conformance/run_cpython_suite.py $$(command -v python)'

# The next CPython: what fails there is reported, not a failure of check.
check-next: tools
	-tools/chroot-run $(NEXT_PYTHON) '$(CHROOT_INSTALL) && cd tests && python -m pytest -q -p no:cacheprovider . ; cd .. && python tests/conformance/run_cpython_suite.py $$(command -v python)' 

dask-test:
	@test -x $(DASK_VENV)/bin/python || $(call pyexe,$(DASK_PY)) -m venv $(DASK_VENV)
	$(DASK_VENV)/bin/python -m pip install -q --upgrade pip
	$(DASK_VENV)/bin/python -m pip install -q '.[test,dask]'
	cd tests && GOTHREADS_REQUIRE_DASK=1 ../$(DASK_VENV)/bin/python -m pytest -q -p no:cacheprovider -s test_dask.py
	$(MAKE) dask-suite

# distributed's version is that of Debian sid's source package, which has its tests.
dask-suite:
	tools/dask-suite $(DASK_PY)

# CPython's own thread-pool tests with gothreads substituted (tests/conformance).
conformance-%: venv-%
	$(call VENV,$*)/bin/python tests/conformance/run_cpython_suite.py $(call VENV,$*)/bin/python

conformance: $(addprefix conformance-,$(SUITE_PYTHONS)) $(addprefix chroot-conformance-,$(CHROOT_PYTHONS))

# One object per source so the raw files get their own flags; $(1)=name $(2)=cc $(3)=flags
rawobj = $(addprefix $(OUT)/$(1)/,$(notdir $(RAW_SRC:.c=.o)))
define ctest_build
	mkdir -p $(OUT)/$(1)
	$(foreach f,$(RAW_SRC),$(2) $(3) $(RAW_CFLAGS_$(1)) -c $(f) -o $(OUT)/$(1)/$(notdir $(f:.c=.o)) &&) true
	$(2) $(3) $(SAN_$(1)) $(CTEST) $(CORE_SRC) $(call rawobj,$(1)) \
	    $(ASM_$(1)) -o $(OUT)/$(1)/test_runtime -lpthread
endef
CFLAGS_C = -O2 -g $(CWARN) -DGT_HAVE_RAW_M -Icsrc
RAW_CFLAGS_plain = $(RAW_CFLAGS)
RAW_CFLAGS_asan = $(RAW_CFLAGS)
RAW_CFLAGS_tsan = $(RAW_CFLAGS)
SAN_asan = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_tsan = -fsanitize=thread
ASM_plain = $(ASM_SRC)
ASM_asan = $(ASM_SRC)
ASM_tsan = $(ASM_SRC)

ctest:
	$(call ctest_build,plain,$(CC),$(CFLAGS_C))
	$(OUT)/plain/test_runtime $(CYCLES)

sanitize:
	$(call ctest_build,asan,$(CC),$(CFLAGS_C) -O1)
	GT_TEST_FOREIGN_RUNTIME=asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(OUT)/asan/test_runtime $(CYCLES)
	$(call ctest_build,tsan,$(CC),$(CFLAGS_C) -O1)
	GT_TEST_FOREIGN_RUNTIME=tsan TSAN_OPTIONS="halt_on_error=1 die_after_fork=0 suppressions=$(CURDIR)/tests/c/tsan.supp" \
	    setarch $(ARCH) -R $(OUT)/tsan/test_runtime $(TSAN_CYCLES) 4096

# aarch64 under qemu-user: the runtime, the arm64 assembly, and two negative controls
# (a premature reap, an exitThread that writes its stack after the release store),
# each of which must fail.
A64CC = aarch64-linux-gnu-gcc
A64FLAGS = -O2 -g $(CWARN) -static -DGT_HAVE_RAW_M -Icsrc
A64RAW = -fno-stack-protector -mno-outline-atomics
A64SRC = $(CTEST) $(CORE_SRC) $(ASM_SRC_linux_aarch64)
cross-test:
	mkdir -p $(OUT)/arm64
	$(foreach f,$(RAW_SRC),$(A64CC) $(A64FLAGS) -c $(f) $(A64RAW) -o $(OUT)/arm64/$(notdir $(f:.c=.o)) &&) true
	$(A64CC) $(A64FLAGS) $(A64SRC) $(call rawobj,arm64) -o $(OUT)/arm64/test_runtime
	$(A64CC) $(A64FLAGS) -DGT_TEST_PREMATURE_REAP $(A64SRC) $(call rawobj,arm64) -o $(OUT)/arm64/neg_reap
	$(A64CC) $(A64FLAGS) -DGT_TEST_BROKEN_EXIT $(A64SRC) $(call rawobj,arm64) -o $(OUT)/arm64/neg_exit
	GT_TEST_FOREIGN_RUNTIME=qemu qemu-aarch64-static $(OUT)/arm64/test_runtime $(QEMU_CYCLES)
	tools/expect-failure GT_TEST_FOREIGN_RUNTIME=qemu qemu-aarch64-static $(OUT)/arm64/neg_reap $(QEMU_CYCLES)
	tools/expect-failure GT_TEST_FOREIGN_RUNTIME=qemu qemu-aarch64-static $(OUT)/arm64/neg_exit $(QEMU_CYCLES)

# The seam for macOS, proven: the core and csrc/os_darwin.c (its plan, stubbed) compile
# for aarch64-macos and x86_64-macos with zig's clang and its macOS SDK stubs, and link
# into a library with no undefined symbol.  (Running on macOS is out of reach here.)
MACOS_OUT = build/macos
macos-check: wheel-tools
	for t in aarch64-macos x86_64-macos; do rm -rf $(MACOS_OUT)/$$t && mkdir -p $(MACOS_OUT)/$$t && \
	    for f in $(filter-out $(OS_SRC_linux),$(CORE_SRC)) $(RAW_SRC) $(OS_SRC_darwin); do \
	        tools/zig-cc $$t -std=gnu11 -Wall -Wextra -Werror -O2 -DGT_DARWIN_STUBS_OK -Icsrc \
	            -c $$f -o $(MACOS_OUT)/$$t/$$(basename $$f .c).o || exit 1; done && \
	    tools/zig-cc $$t -shared $(MACOS_OUT)/$$t/*.o -o $(MACOS_OUT)/$$t/libgothreads-core.dylib || exit 1; \
	done
	@echo "macos-check: the core links for aarch64-macos and x86_64-macos"

# Random programs run on the stdlib's executor and ours (CI runs a few per version).
FUZZ_EXAMPLES ?= 2000
fuzz: venv-$(PY)
	cd tests && GOTHREADS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) GOTHREADS_FUZZ_SEED=random \
	    ../$(call VENV,$(PY))/bin/python -m pytest -q -p no:cacheprovider test_differential.py

# Mutation testing of the harness: each mutant of tools/mutants_catalog.py built in a copy
# of this tree, the harness run against it (the default python; builds nothing here).
MUTANT_PROGRAMS ?= 100
MUTANT_SEED ?= 1
mutants:
	python tools/mutants.py --programs $(MUTANT_PROGRAMS) --seed $(MUTANT_SEED) --json build/mutants.json

bench: venv-$(PY)
	mkdir -p bench/results
	cd bench && ../$(call VENV,$(PY))/bin/python -m pytest . -q -p no:cacheprovider \
	    --benchmark-json=results/bench-$(PY).json --benchmark-columns=median,min,max,rounds

# -I: run the installed package, not the source tree in the current directory.
demo: venv-$(PY)
	$(call VENV,$(PY))/bin/python -I -m gothreads

# Debian packages the checks need (root only; CI runs as root).
tools:
	@tools/ensure-debs gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static debootstrap binutils

# Types: what users' type checkers see (gothreads/*.pyi, the annotations).  The last
# mypy that can check for 3.9; tests/typing holds the expectations, errors included.
MYPY = mypy==1.19.1
typecheck: venv-$(PY)
	$(call VENV,$(PY))/bin/python -m pip install -q '$(MYPY)'
	for v in 3.9 3.14; do \
	    $(call VENV,$(PY))/bin/python -m mypy --python-version $$v -p gothreads && \
	    $(call VENV,$(PY))/bin/python -m mypy --python-version $$v tests/typing || exit 1; \
	done

# Packaging.  The tools (build, auditwheel, zig's C compiler from PyPI) in a venv of their own.
TOOLS_VENV = .venv/wheel-tools
TOOLS_PY = $(TOOLS_VENV)/bin/python
export ZIG_PYTHON = $(abspath $(TOOLS_PY))
SDIST = dist/gothreads-$(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' gothreads/__init__.py).tar.gz

wheel-tools:
	@test -x $(TOOLS_PY) || $(call pyexe,$(PY)) -m venv $(TOOLS_VENV)
	$(TOOLS_PY) -m pip install -q build auditwheel ziglang

sdist: wheel-tools
	rm -rf dist
	$(TOOLS_PY) -m build --sdist -o dist .

# The sdist alone is enough: it is unpacked in a clean folder, a wheel built there and
# installed in a fresh venv, away from this tree.
FROMSDIST = build/fromsdist
dist-check: sdist
	rm -rf $(FROMSDIST) && mkdir -p $(FROMSDIST)
	tar -xzf $(SDIST) -C $(FROMSDIST)
	cd $(FROMSDIST)/gothreads-* && $(abspath $(TOOLS_PY)) -m build --wheel -o $(abspath $(FROMSDIST))/wheel .
	$(TOOLS_PY) tools/check-wheel --contents-only $(FROMSDIST)/wheel/*.whl
	$(call pyexe,$(PY)) -m venv $(FROMSDIST)/venv
	$(FROMSDIST)/venv/bin/python -m pip install -q $(FROMSDIST)/wheel/*.whl
	cd $(FROMSDIST) && venv/bin/python -I -c 'import gothreads; \
	    ex = gothreads.ThreadPoolExecutor(2); print(gothreads.__version__, ex.submit(pow, 2, 10).result())'

# The wheels, built and tested as users get them.  Every cache (the sid chroot, the
# bullseye chroot, the arm64 roots) is under $(GOTHREADS_CACHE), which the tools read
# too: GOTHREADS_CACHE=$$(mktemp -d) make wheel-test is a run from nothing.
#
# x86-64 with each pyenv CPython, 3.14 in the sid chroot; aarch64 cross-compiled with
# each version's arm64 headers from Debian (tools/debian-arm64): bullseye has 3.9,
# bookworm 3.11, sid 3.13 and 3.14.  Debian ships no 3.10 or 3.12 for arm64, so those
# two aarch64 wheels are not built.  Each wheel is stripped and tagged
# manylinux_2_17_ARCH.manylinux2014_ARCH (tools/strip-wheel), then checked
# (tools/check-wheel: tags, glibc symbol versions, contents) as soon as it is built;
# wheelhouse/ gets them all, and check-wheel's table of them.
#
# make wheel-test builds them (if the sdist changed) and tests them, the steps in
# parallel (WHEEL_JOBS) where they can be: the fetches (debootstrap, apt) beside the
# builds, the aarch64 tests (qemu) beside the x86-64 ones.  Tested:
#   - each x86-64 wheel on this machine: installed in a fresh venv of its Python with
#     its test extra, the tests run from a copy outside the tree, no compiler on PATH
#     (tools/test-wheel); 3.14's the same way in the sid chroot (tools/test-wheel-chroot);
#   - cp39 x86-64 on glibc 2.31 and pip 20.3 (a Debian bullseye chroot);
#   - each aarch64 wheel under qemu-aarch64-static with Debian's arm64 CPython of its
#     version: installed by pip as for that interpreter, the runtime's Ms churned and an
#     executor run (tools/test-wheel-qemu).
# They run WHEEL_PYTEST, the tests of the built extension and the runtime (the rest of
# check runs the whole suite against each Python's own build); the whole suite, against
# the wheels named in WHEEL_FULL (e.g. WHEEL_FULL="bullseye-3.9 x86_64-3.13 sid-3.14").
export GOTHREADS_CACHE ?= /var/cache/gothreads
WHEEL_PYTHONS ?= 3.9 3.10 3.11 3.12 3.13
ARM64 = $(GOTHREADS_CACHE)/arm64
ARM64_SUITES = 3.9:bullseye 3.11:bookworm 3.13:sid 3.14:sid
BULLSEYE = $(GOTHREADS_CACHE)/bullseye
SIDROOT = $(GOTHREADS_CACHE)/sid
PLATFORM_TAGS = manylinux_2_17_{arch}.manylinux2014_{arch}
WHEEL_JOBS ?= 4
WHEEL_FULL ?=
WHEEL_PYTEST ?= test_package.py test_build.py test_runtime.py
WB = build/wheels
wsuite = $(patsubst $(1):%,%,$(filter $(1):%,$(ARM64_SUITES)))
libffi = $(if $(filter bullseye,$(1)),libffi7,libffi8)
# Headers to build with, and a CPython to run under qemu (its own libraries and no more).
arm64pkgs = libpython$(1)-dev libcrypt-dev python$(1)-minimal libpython$(1)-minimal \
    libpython$(1)-stdlib libc6 libcrypt1 zlib1g libexpat1 $(call libffi,$(2))
wpytest = $(if $(filter $(1),$(WHEEL_FULL)),,$(WHEEL_PYTEST))
# $(1): the folder build-wheel wrote to: strip, tag, check, and add to wheelhouse.
define finish_wheel
	$(TOOLS_PY) tools/strip-wheel --platform '$(PLATFORM_TAGS)' $(1)/*.whl
	$(TOOLS_PY) tools/check-wheel $(1)/*.whl
endef

wheels: sdist tools wheel-tools
	$(MAKE) --no-print-directory -j$(WHEEL_JOBS) wheel-build

wheel-test: sdist tools wheel-tools
	$(MAKE) --no-print-directory -j$(WHEEL_JOBS) wheel-build bullseye-root wheel-tests

# The wheels are rebuilt when the sdist is newer than they are (each run of sdist).  The
# fetches are named first, so that they start at once, beside the first builds.
wheel-build: arm64-roots sid-root $(WB)/x86_64.ok $(WB)/aarch64.ok $(WB)/chroot.ok
	rm -rf wheelhouse && mkdir -p wheelhouse
	cp $(WB)/*/*.whl wheelhouse/
	@echo "wheelhouse:" && $(TOOLS_PY) tools/check-wheel wheelhouse/*.whl

$(WB)/x86_64.ok: $(addprefix $(WB)/x86_64-,$(addsuffix .ok,$(WHEEL_PYTHONS)))
	touch $@
$(WB)/aarch64.ok: $(foreach vs,$(filter-out 3.14:%,$(ARM64_SUITES)),$(WB)/aarch64-$(firstword $(subst :, ,$(vs))).ok)
	touch $@

$(WB)/x86_64-%.ok: $(SDIST)
	rm -rf $(WB)/x86_64-$* && mkdir -p $(WB)/x86_64-$*
	tools/build-wheel $(SDIST) $(call pyexe,$*) x86_64 $(WB)/x86_64-$*
	$(call finish_wheel,$(WB)/x86_64-$*)
	touch $@

# (3.9's Python.h includes crypt.h, which glibc 2.17's headers in zig do not have)
$(WB)/aarch64-%.ok: $(SDIST) | arm64-roots
	rm -rf $(WB)/aarch64-$* && mkdir -p $(WB)/aarch64-$*
	tools/build-wheel $(SDIST) $(call pyexe,$*) aarch64 $(WB)/aarch64-$* \
	    $(ARM64)/$(call wsuite,$*)/usr/include/python$*
	$(call finish_wheel,$(WB)/aarch64-$*)
	touch $@

# The roots, in $(GOTHREADS_CACHE) (network: beside the builds).  Each run asks; the
# tools fetch only what the cache lacks.  The arm64 root of each version's suite:
arm64-roots:
	$(foreach vs,$(ARM64_SUITES),tools/debian-arm64 $(call wsuite,$(firstword $(subst :, ,$(vs)))) \
	    $(ARM64)/$(lastword $(subst :, ,$(vs))) \
	    $(call arm64pkgs,$(firstword $(subst :, ,$(vs))),$(lastword $(subst :, ,$(vs)))) &&) true

sid-root:
	tools/chroot-run 3.14 true

# (debootstrap does not resolve python3.9-venv's python3.9-distutils, a virtual package)
bullseye-root:
	tools/debian-chroot bullseye $(BULLSEYE) python3.9,python3.9-venv,python3-distutils,python3-lib2to3,ca-certificates

# 3.14, both machines, in the sid chroot: the sdist and the arm64 headers go in.
# (Debian's pyconfig.h includes the x86-64 one from /usr/include, which zig must not
# search: its glibc headers are 2.17's; so both are copied to a folder of their own)
$(WB)/chroot.ok: $(SDIST) | arm64-roots sid-root
	rm -rf $(WB)/chroot $(WB)/chroot-in && mkdir -p $(WB)/chroot-in
	cp $(SDIST) $(WB)/chroot-in/
	cp -r $(ARM64)/sid/usr/include $(WB)/chroot-in/include
	GOTHREADS_CHROOT_IN=$(WB)/chroot-in GOTHREADS_CHROOT_OUT=$(WB)/chroot GOTHREADS_CHROOT_PIP=ziglang \
	tools/chroot-run 3.14 'inc=$$(mktemp -d) && mkdir -p $$inc/x86_64-linux-gnu && \
	    cp -r /usr/include/python3.14 $$inc/ && cp -r /usr/include/x86_64-linux-gnu/python3.14 $$inc/x86_64-linux-gnu/ && \
	    ZIG_PYTHON=python tools/build-wheel $$IN/*.tar.gz python x86_64 $$OUT $$inc/python3.14 && \
	    ZIG_PYTHON=python tools/build-wheel $$IN/*.tar.gz python aarch64 $$OUT $$IN/include/python3.14'
	$(call finish_wheel,$(WB)/chroot)
	touch $@

# The pytest runs one after another (they time threads); qemu's beside them.
whl = $(wildcard $(WB)/$(1)/*.whl)
wheel-tests: wheel-pytest wheel-qemu

wheel-pytest: $(WB)/x86_64.ok $(WB)/chroot.ok
	$(MAKE) --no-print-directory -j1 $(addprefix wheel-pytest-x86_64-,$(WHEEL_PYTHONS)) \
	    wheel-pytest-sid-3.14 wheel-pytest-bullseye-3.9

wheel-pytest-x86_64-%:
	@echo "== wheel test: $* x86-64, this machine"
	tools/test-wheel $(call pyexe,$*) $(WB)/x86_64-$*/*.whl $(call wpytest,x86_64-$*)

wheel-pytest-sid-3.14:
	@echo "== wheel test: cp314 x86-64, the sid chroot"
	tools/test-wheel-chroot $(SIDROOT) python3.14 $(WB)/chroot/*x86_64.whl $(call wpytest,sid-3.14)

# (wheel-test starts bullseye-root early; here it waits for that run's lock, if need be)
wheel-pytest-bullseye-3.9: | bullseye-root
	@echo "== wheel test: cp39 x86-64, glibc 2.31 and pip 20.3 (the bullseye chroot)"
	tools/test-wheel-chroot $(BULLSEYE) python3.9 $(WB)/x86_64-3.9/*.whl $(call wpytest,bullseye-3.9)

wheel-qemu: $(WB)/aarch64.ok $(WB)/chroot.ok
	for vs in $(ARM64_SUITES); do v=$${vs%%:*}; s=$${vs#*:}; \
	    w=$$(ls $(WB)/aarch64-$$v/*.whl $(WB)/chroot/*cp$$(echo $$v | tr -d .)-*aarch64.whl 2>/dev/null | head -1); \
	    echo "== wheel test: $$(basename $$w), qemu-aarch64 with $$s's python$$v"; \
	    PIP_PYTHON=$(abspath $(TOOLS_PY)) tools/test-wheel-qemu $(ARM64)/$$s $$v $$w || exit 1; done

check: tools test dask-test conformance ctest sanitize cross-test macos-check typecheck dist-check wheel-test

clean:
	rm -rf build dist wheelhouse .venv bench/results gothreads/*.so gothreads/_runtime.c gothreads/_pool.c *.egg-info
