"""Whether this CPU runs bfloat16 natively (--amp on the CPU); without avx512_bf16 or AMX, torch
emulates bf16 and autocast is slower than float32 (the plain loop ran at 0.14x float32 on an
AVX2-only EPYC: benchmarks/bench_mnist_trainer.py --amp)."""
from __future__ import annotations

import platform
from pathlib import Path

# /proc/cpuinfo flags of CPUs with bf16 instructions: x86 (avx512_bf16, AMX), Arm (bf16)
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The feature flags of the first CPU in /proc/cpuinfo (x86 'flags', Arm 'Features'); empty when unknown."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_bf16_problem(cpuinfo: str | None = None) -> str | None:
    """None when the CPU has bf16 instructions, else one line saying why --amp is refused."""
    flags = cpu_flags(cpuinfo)
    if any(f in flags for f in BF16_FLAGS):
        return None
    if not flags:
        return (f"argument --amp: cannot tell whether this CPU ({platform.machine()}) has bf16 instructions "
                f"(no /proc/cpuinfo flags); leave --amp off on the CPU")
    return ("argument --amp: this CPU has no bf16 instructions (neither avx512_bf16 nor AMX), so bf16 autocast "
            "would be emulated and slower than float32; leave --amp off on the CPU")
