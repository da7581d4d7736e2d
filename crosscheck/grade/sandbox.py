"""Confine the process that runs a submission, with what Linux offers without root's help:
resource limits, a scrubbed environment, its own folder, no capabilities, and Landlock (files
outside its folder read-only and only the Python installation and this project's packages
readable; no TCP; no signals to processes outside the sandbox). What is and is not contained:
docs/grading.md#isolation. Every step that the kernel refuses is skipped and said in a note.

The process tree itself (the wall clock, the process count, killing what is left) is watched
from outside by runner.py: a process cannot be trusted to stop itself."""
from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
import sys

from ..check.user_code import OUR_PACKAGES

# Landlock (linux/landlock.h): filesystem rights by ABI version
_FS_RIGHTS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_READ = (1 << 0) | (1 << 2) | (1 << 3)          # execute, read file, read dir
_FILE_ONLY = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)   # execute, write, read, truncate, ioctl
_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446   # the same number on every architecture
_NET_TCP = (1 << 0) | (1 << 1)                   # bind, connect (ABI 4)
_SCOPE_ALL = (1 << 0) | (1 << 1)                 # abstract unix sockets, signals (ABI 6)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE = 1, 38, 24, 36, 4
_SYSTEM_READ = ("/usr", "/lib", "/lib64", "/bin", "/etc", "/sys/devices/system/cpu", "/dev/urandom", "/proc/cpuinfo",
                "/proc/meminfo")
_DEVICES_RW = ("/dev/null", "/dev/zero")
FILE_SIZE_LIMIT = 64 << 20   # a file it writes in its folder: at most this many bytes (RLIMIT_FSIZE)

_libc = ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> bool:
    """Orphans of the sandbox are reparented to this process, so runner.py sees and kills them."""
    return _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (a worker stopped by Ctrl-C takes its child along)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def not_dumpable() -> None:
    """No process of the same user without CAP_SYS_PTRACE may ptrace this one or read and
    write its memory through /proc (the checker, beside a submission that has no capabilities)."""
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def scrub_environment(box: str) -> None:
    """Only what a NumPy program needs; nothing of the grader's (tokens, paths, proxies)."""
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": box, "TMPDIR": box, "LANG": "C.UTF-8",
                       "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(box, ".matplotlib"),
                       "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                       "MKL_NUM_THREADS": "1"})


def address_space_now() -> int:
    """This process's mapped address space in bytes (VmSize): torch alone maps gigabytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def set_limits(memory_mib: int, cpu_soft_s: float, cpu_hard_s: float) -> None:
    """Memory (address space beyond what the worker maps), CPU seconds, file size, no core dumps."""
    extra = memory_mib << 20
    resource.setrlimit(resource.RLIMIT_AS, (address_space_now() + extra,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(cpu_soft_s), math.ceil(cpu_hard_s)))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def limit_memory(memory_mib: int) -> None:
    """Address space: what this process maps now plus `memory_mib` (the checker, which reads
    at most wire.MAX_MESSAGE a message but builds from it what it is told to)."""
    resource.setrlimit(resource.RLIMIT_AS, (address_space_now() + (memory_mib << 20),) * 2)


def cpu_used() -> float:
    """CPU seconds this process has used (what RLIMIT_CPU counts)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def set_cpu_limit(seconds: float) -> None:
    """Set the CPU soft limit to `seconds` of this process's CPU time (the hard limit stays)."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(seconds) if hard == resource.RLIM_INFINITY else min(math.ceil(seconds), hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def drop_capabilities() -> str:
    """As root: keep uid 0 but drop every capability (no raising its limits back, no mounts,
    no reading files it does not own by override); '' or why it could not."""
    if os.geteuid() != 0:
        return ""
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    data = (ctypes.c_uint32 * 6)()   # effective, permitted, inheritable; two 32-bit words each
    if _libc.syscall(126 if _x86_64() else 91, ctypes.byref(Header(0x20080522, 0)), data) != 0:
        return f"capabilities kept (capset: errno {ctypes.get_errno()})"
    return ""


def _x86_64() -> bool:
    return os.uname().machine == "x86_64"


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where it has none (older than 5.13, or disabled)."""
    return max(0, _libc.syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))


def landlock(box: str) -> str:
    """Files: read and write inside `box`, read (and execute) the Python installation, this
    project's packages and the system's libraries, nothing else; no TCP; no signals out.
    '' when in force, else why not (old kernel, Landlock disabled)."""
    abi = landlock_abi()
    if abi < 1:
        return "Landlock unavailable on this kernel: files outside its folder are protected by permissions only"
    fs = _FS_RIGHTS[max(v for v in _FS_RIGHTS if v <= abi)]
    attr = (ctypes.c_uint64 * 3)(fs, _NET_TCP if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = 8 * (3 if abi >= 6 else 2 if abi >= 4 else 1)
    ruleset = _libc.syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"Landlock refused a ruleset (errno {ctypes.get_errno()})"
    try:
        for path in _readable_paths():
            _allow(ruleset, path, _READ, fs)
        for path in _DEVICES_RW:
            _allow(ruleset, path, _READ | (1 << 1), fs)
        _allow(ruleset, box, fs, fs)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or _libc.syscall(_SYS_RESTRICT, ruleset, 0) != 0:
            return f"Landlock not applied (errno {ctypes.get_errno()})"
    finally:
        os.close(ruleset)
    return ""


def _readable_paths() -> list[str]:
    ours = [os.path.dirname(sys.modules[p].__file__) for p in OUR_PACKAGES if getattr(sys.modules.get(p), "__file__", None)]
    pythons = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    pythons |= {p for p in sys.path if p and os.path.isabs(p) and ("site-packages" in p or p.startswith(sys.base_prefix))}
    return sorted(set(_SYSTEM_READ) | pythons | set(ours))


def _allow(ruleset: int, path: str, rights: int, fs: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return   # not on this machine: nothing to allow
    try:
        rights &= fs if os.path.isdir(path) else (fs & _FILE_ONLY)

        class PathBeneath(ctypes.Structure):
            _pack_ = 1
            _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

        rule = PathBeneath(rights, fd)
        _libc.syscall(_SYS_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0)
    finally:
        os.close(fd)
