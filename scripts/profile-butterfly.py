#!/usr/bin/env python3
"""Runs ssm::butterfly_conv (no factors) forward once per case on the GPU, for a profiler to attach to.

    scripts/profile-butterfly.py LIBRARY [B,H,L[,tc] ...]
        (default cases: 64,256,1024 then 64,256,1024,tc then 4,256,16384)

LIBRARY is the built op library (build-gpu/libssm_ops.so). bfloat16 inputs, kernels of length L; ",tc" runs the case
with SSM_BUTTERFLY=bf16=tensor_cores (the tensor-core blocks), else the default arithmetic. Each forward launches two
sub-row kernels (the kernel spectrum, then the convolution). scripts/gpu-check runs it under Nsight Compute (ncu) when
the machine has it: issue-slot, pipe and shared-memory utilization of the exact pipelines' kernels, the figures that
say whether they are bound by instruction issue (see docs/benchmarks.md).
"""
import os
import sys

import torch


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    torch.ops.load_library(sys.argv[1])
    cases = sys.argv[2:] or ["64,256,1024", "64,256,1024,tc", "4,256,16384"]
    for case in cases:
        parts = case.split(",")
        B, H, L = (int(x) for x in parts[:3])
        tc = parts[3:] == ["tc"]
        os.environ["SSM_BUTTERFLY"] = "bf16=tensor_cores" if tc else "bf16=cuda_cores"
        u = torch.randn(B, H, L, device="cuda", dtype=torch.bfloat16)
        k = (torch.randn(H, L, device="cuda") / L).to(torch.bfloat16)
        D = torch.randn(H, device="cuda", dtype=torch.bfloat16)
        torch.ops.ssm.butterfly_conv(u, k, D, None, None)
        torch.cuda.synchronize()
        print(f"profile-butterfly: B={B} H={H} L={L} bfloat16 forward{' tensor cores' if tc else ''}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
