#!/usr/bin/env python3
"""The ptxas report of a build log, one line per kernel and architecture: registers, stack frame, spill stores and
loads, and the demangled kernel name (without ssm::cuda namespaces); last, how many spill and how many have a stack
frame.

    scripts/ptxas-report.py BUILD_LOG [NAME_FILTER]

BUILD_LOG: the output of a build with -Xptxas=-v (the project's CUDA flags have it; e.g. `ninja -C build >
build.log`). NAME_FILTER: a regular expression the demangled name must match (default: every kernel). Exit code 1 when
a listed kernel spills registers. scripts/gpu-check writes it for the GPU build; a session's closing note quotes it.
"""
import re
import shutil
import subprocess
import sys


def demangle(names):
    if not shutil.which("c++filt"):
        return names
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    return out if len(out) == len(names) else names


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    pattern = re.compile(sys.argv[2]) if len(sys.argv) > 2 else None
    rows, cur = [], None
    for line in open(sys.argv[1], errors="replace"):
        m = re.search(r"Compiling entry function '([^']+)' for '(sm_\d+)'", line)
        if m:
            cur = {"name": m.group(1), "arch": m.group(2)}
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and cur is not None:
            cur["stack"], cur["spill_st"], cur["spill_ld"] = (int(x) for x in m.groups())
            continue
        m = re.search(r"Used (\d+) registers", line)
        if m and cur is not None and "stack" in cur:
            cur["regs"] = int(m.group(1))
            rows.append(cur)
            cur = None
    names = demangle([r["name"] for r in rows])
    spills = stacks = 0
    print(f"{'arch':<6} {'regs':>4} {'stack':>5} {'spill st/ld':>11}  kernel")
    for r, name in zip(rows, names):
        name = re.sub(r"ssm::cuda::(\(anonymous namespace\)::)?(fft::)?", "", name)
        if pattern and not pattern.search(name):
            continue
        spills += r["spill_st"] + r["spill_ld"] > 0
        stacks += r["stack"] > 0
        print(f"{r['arch']:<6} {r['regs']:>4} {r['stack']:>5} {r['spill_st']:>5}/{r['spill_ld']:<5}  {name[:140]}")
    print(f"{spills} kernel(s) with register spills, {stacks} with a stack frame (local memory: a copied parameter, "
          "an array indexed at run time or a call that was not inlined)")
    return 1 if spills else 0


if __name__ == "__main__":
    sys.exit(main())
