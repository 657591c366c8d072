// Diagonal linear recurrence on CUDA (the scan of S5): x[k] = a[k] x[k-1] + b[k] along L, elementwise over the
// state, for real and complex types, forward or reverse, time-invariant or time-varying a.
// Params and launchers only; the LibTorch glue is src/ops/diag_scan_cuda.cpp.
//
// Three passes over chunks of the sequence: (1) every (batch, chunk, state) scans its chunk from a zero state and
// keeps the chunk's aggregate (prod a, end value); (2) one thread per (batch, state) carries the state across the
// chunks; (3) every chunk is scanned again from its carried-in state and written. b is read twice and x written once.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ssm::cuda {

enum class ScanDtype { kFloat32, kFloat64, kComplex64, kComplex128 };

struct DiagScanParams {
  const void* __restrict__ a;   // (P) or (B, L, P)
  const void* __restrict__ b;   // (B, L, P)
  const void* __restrict__ h0;  // (B, P) or null
  void* __restrict__ x;         // (B, L, P)
  void* __restrict__ workspace;  // 2 * B * chunks * P elements (chunk aggregates, then carries)
  int64_t B, L, P;
  bool a_varying;
  bool reverse;  // scan from the end
  // The coefficient used at step l is a[l + a_shift] (conjugated if conj_a), 0 outside [0, L): the backward pass runs
  // this scan over the upstream gradient with a shifted by one step against the scan's direction.
  int a_shift;
  bool conj_a;
  int64_t chunk;   // steps per chunk
  int64_t chunks;  // ceil(L / chunk)
};

// Chunk length for the shape: enough (batch, chunk, state) threads to fill the device (sm_count SMs).
int64_t diag_scan_chunk(int64_t B, int64_t L, int64_t P, int sm_count);

cudaError_t diag_scan(const DiagScanParams& p, ScanDtype dt, cudaStream_t stream);

// Gradient of a from the reverse-scanned upstream q and the forward output x:
//   c[b, l, p] = q[b, l, p] * conj(x_prev), x_prev = x[b, l - dir, p] (h0[b, p] or 0 at the first step);
//   time-varying a: da = c; time-invariant: da[p] = sum_{b, l} c[b, l, p].
struct DiagScanGradAParams {
  const void* __restrict__ q;   // (B, L, P)
  const void* __restrict__ x;   // (B, L, P)
  const void* __restrict__ h0;  // (B, P) or null
  void* __restrict__ da;        // (B, L, P) or (P)
  int64_t B, L, P;
  bool a_varying, reverse;
};
cudaError_t diag_scan_grad_a(const DiagScanGradAParams& p, ScanDtype dt, cudaStream_t stream);

// dh0[b, p] = conj(a_first[p]) * q[b, l_first, p], l_first = 0 (L - 1 when reverse).
cudaError_t diag_scan_grad_h0(const void* a, const void* q, void* dh0, int64_t B, int64_t L, int64_t P,
                              bool a_varying, bool reverse, ScanDtype dt, cudaStream_t stream);

}  // namespace ssm::cuda
