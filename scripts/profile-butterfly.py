#!/usr/bin/env python3
"""Runs ssm::butterfly_conv (no factors) forward a few times on the GPU, for a profiler to attach to.

    scripts/profile-butterfly.py LIBRARY [B,H,L ...]   (default shapes: 64,256,1024 and 4,256,16384)

LIBRARY is the built op library (build-gpu/libssm_ops.so). bfloat16 inputs, kernels of length L. scripts/gpu-check
runs it under Nsight Compute (ncu) when the machine has it: issue-slot, pipe and shared-memory utilization of the
exact pipelines' kernels, the figures that say whether they are bound by instruction issue (see docs/benchmarks.md).
"""
import sys

import torch


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    torch.ops.load_library(sys.argv[1])
    shapes = [tuple(int(x) for x in s.split(",")) for s in sys.argv[2:]] or [(64, 256, 1024), (4, 256, 16384)]
    for B, H, L in shapes:
        u = torch.randn(B, H, L, device="cuda", dtype=torch.bfloat16)
        k = (torch.randn(H, L, device="cuda") / L).to(torch.bfloat16)
        D = torch.randn(H, device="cuda", dtype=torch.bfloat16)
        for _ in range(3):
            torch.ops.ssm.butterfly_conv(u, k, D, None, None)
        torch.cuda.synchronize()
        print(f"profile-butterfly: B={B} H={H} L={L} bfloat16 forward x3", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
