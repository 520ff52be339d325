"""The built extension, inspected: what it exports, and that raw-M code never calls
through the PLT.  Under lazy binding the first call through a PLT slot runs ld.so's
resolver, which needs a TCB that a raw M does not have (csrc/m_raw.c's rules)."""
import bisect
import re
import shutil
import subprocess

import pytest

from gothreads import _runtime

SO = _runtime.__file__
# Everything that runs on a raw M: m_raw.c, freem.c and the arch .S.
RAW_FUNCS = {"gt_raw_mstart", "gt_raw_churn_body", "gt_freem_push", "gt_clone_raw",
             "gt_exit_thread"}

pytestmark = pytest.mark.skipif(
    not (shutil.which("readelf") and shutil.which("objdump")), reason="needs binutils")


def tool(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def test_exports_only_module_init():
    defined, gt = [], []
    for line in tool("readelf", "--dyn-syms", "-W", SO).splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].endswith(":"):
            continue
        name = f[7].split("@")[0]
        if name.startswith("gt_"):
            gt.append(line.strip())
        if f[6] != "UND" and f[4] in ("GLOBAL", "WEAK") and f[5] == "DEFAULT":
            defined.append(name)
    assert not gt, "runtime symbols in the dynamic symbol table:\n" + "\n".join(gt)
    assert defined == ["PyInit__runtime"], defined


# x86-64: call/jmp/jcc; arm64: bl/b/b.cond/cbz/tbz, blr/br.
BRANCH = re.compile(r"\t(call|jmp|j[a-z]+|bl|b|b\.[a-z]+|cbn?z|tbn?z|blr|br)\s+(.*)$")
FUNC = re.compile(r"^([0-9a-f]+) <([^>]+)>:$")


def disassembly():
    """{function start address: (name, [instruction lines])} for the whole .so."""
    funcs, cur = {}, None
    for line in tool("objdump", "-d", "-w", "--no-show-raw-insn", SO).splitlines():
        m = FUNC.match(line)
        if m:
            cur = funcs[int(m.group(1), 16)] = (m.group(2), [])
        elif cur and re.match(r"\s+[0-9a-f]+:\t", line):
            cur[1].append(line)
    return funcs


def test_raw_m_code_calls_no_plt():
    # Everything a raw M can reach by a direct call or jump (the static helpers the
    # compiler made out of inline functions included) stays in this object and never
    # goes through the PLT or the GOT.  Indirect calls through a register or the M's
    # record (mp->fn, the body) are the body's business: m_raw.c's rules.
    funcs = disassembly()
    by_name = {name: addr for addr, (name, _) in funcs.items()}
    starts = sorted(funcs)
    missing = RAW_FUNCS - set(by_name)
    assert not missing, f"not found in {SO}: {missing}"
    todo, seen, bad = [by_name[f] for f in RAW_FUNCS], set(), []
    while todo:
        addr = todo.pop()
        if addr in seen:
            continue
        seen.add(addr)
        name, insns = funcs[addr]
        assert insns, f"{name} is empty"
        for line in insns:
            m = BRANCH.search(line)
            if not m:
                continue
            arg = m.group(2).split("#")[0]
            if "@" in arg or "(%rip)" in arg:
                bad.append(f"{name}: {line.strip()}")
            elif not arg.startswith("*") and m.group(1) not in ("blr", "br"):
                target = re.search(r"\b([0-9a-f]+) <", arg)
                if not target:
                    bad.append(f"{name}: {line.strip()} (no target)")
                    continue
                # the function that holds the target (itself, for a local jump)
                i = bisect.bisect_right(starts, int(target.group(1), 16)) - 1
                todo.append(starts[max(i, 0)])
    reached = sorted(funcs[a][0] for a in seen)
    assert not bad, f"raw-M code ({reached}) calls out:\n" + "\n".join(bad)


def test_thread_locals_need_no_allocation_on_a_new_thread():
    # csrc/runtime.h's GT_THREAD_LOCAL: initial-exec TLS lives in the static block
    # glibc lays out in a new thread's stack.  A general-dynamic variable would be
    # malloc'd by __tls_get_addr on first use, and glibc aborts the process when that
    # fails (issue 20: a worker started under memory pressure).
    from gothreads import _pool
    for so in (SO, _pool.__file__):
        undefined = [line.split()[7].split("@")[0]
                     for line in tool("readelf", "--dyn-syms", "-W", so).splitlines()
                     if len(line.split()) >= 8 and line.split()[6] == "UND"]
        assert "__tls_get_addr" not in undefined, so
    assert "STATIC_TLS" in tool("readelf", "-d", "-W", SO)
