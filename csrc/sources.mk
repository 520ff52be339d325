# The C core's sources: the one list, included by the Makefile and read by setup.py
# (which takes these `NAME = files` lines as they are: keep them that simple).
#
# The runtime, portable C: no OS call outside the OS file (runtime.h's OS layer).
CORE_SRC = csrc/runtime.c csrc/stack.c csrc/template.c csrc/note.c csrc/spin.c csrc/adapt.c csrc/churn.c
# What runs on a raw M: built with flags of its own (no stack protector, never sanitized).
RAW_SRC = csrc/m_raw.c csrc/freem.c
# The OS layer, per sys.platform / uname -s.
OS_SRC_linux = csrc/os_posix.c csrc/os_linux.c
OS_SRC_darwin = csrc/os_posix.c csrc/os_darwin.c
# exitThread and the raw clone, per OS and machine (none: no raw Ms there).
ASM_SRC_linux_x86_64 = csrc/arch/sys_linux_amd64.S
ASM_SRC_linux_aarch64 = csrc/arch/sys_linux_arm64.S
