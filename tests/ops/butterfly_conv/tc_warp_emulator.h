// A warp of 32 lanes emulated on the host, for the tensor-core block of cuda/butterfly_conv/butterfly_fft_tc.h: the register
// fragments of mma.m16n8k16 (bf16 operands, f32 accumulators) and of movmatrix.m8n8.trans.b16 as the PTX ISA manual
// lays them out (groupID = lane >> 2, threadID_in_group = lane % 4):
//   A (16 x 16): a0 .. a7 in four registers (two each, the lower index in the low half); row groupID for a0, a1, a4,
//                a5, else groupID + 8; column 2 threadID_in_group + (i & 1), + 8 for a4 .. a7;
//   B (16 x 8):  b0 .. b3 in two registers; row 2 threadID_in_group + (i & 1), + 8 for b2, b3; column groupID;
//   C, D (16 x 8, f32): c0 .. c3; row groupID for c0, c1, else groupID + 8; column 2 threadID_in_group + (i & 1);
//   movmatrix (8 x 8, one register): row groupID, columns 2 threadID_in_group (low half) and + 1 (high half).
// kRound: the operands rounded to bf16 (round to nearest even), as on the GPU; without, float operands, so that a
// test can tell the layouts' arithmetic from the rounding. The products are summed in double and added to the f32
// accumulator: the GPU's summation order and internal precision differ below float rounding.
#pragma once

#include "butterfly_conv/butterfly_fft_tc.h"

#include <cstdint>
#include <cstring>

namespace ssm::test {

inline float round_to_bf16(float x) {
  uint32_t u = 0;
  std::memcpy(&u, &x, sizeof u);
  u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;  // finite inputs only
  float y = 0;
  std::memcpy(&y, &u, sizeof y);
  return y;
}

struct EmuH2 {
  float lo, hi;
};

template <bool kRound>
struct EmuTcWarp {
  using H2 = EmuH2;
  using Lane = cuda::fft::TcLane<H2>;
  Lane s[32];

  H2 pack(float lo, float hi) const {
    if (kRound) return {round_to_bf16(lo), round_to_bf16(hi)};
    return {lo, hi};
  }
  template <class F>
  void each(F&& f) {
    for (int l = 0; l < 32; ++l) f(l, s[l]);
  }
  static float half(const H2& r, int i) { return (i & 1) ? r.hi : r.lo; }

  template <class Sel>
  void mma(Sel&& sel) {
    double A[16][16] = {}, B[16][8] = {}, C[16][8] = {};
    cuda::fft::TcMma<H2> m[32];
    for (int l = 0; l < 32; ++l) {
      m[l] = sel(s[l]);
      const int g = l >> 2, t = l & 3;
      for (int i = 0; i < 8; ++i) {
        const int row = (i % 4 < 2) ? g : g + 8, col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
        A[row][col] = half(m[l].a[i / 2], i);
      }
      for (int i = 0; i < 4; ++i) B[2 * t + (i & 1) + (i >= 2 ? 8 : 0)][g] = half(m[l].b[i / 2], i);
      for (int i = 0; i < 4; ++i) C[i < 2 ? g : g + 8][2 * t + (i & 1)] = m[l].d[i];
    }
    for (int l = 0; l < 32; ++l) {
      const int g = l >> 2, t = l & 3;
      for (int i = 0; i < 4; ++i) {
        const int row = i < 2 ? g : g + 8, col = 2 * t + (i & 1);
        double sum = 0;
        for (int k = 0; k < 16; ++k) sum += A[row][k] * B[k][col];
        m[l].d[i] = static_cast<float>(C[row][col] + sum);
      }
    }
  }

  template <class Sel>
  void transpose(Sel&& sel) {
    float M[8][8];
    H2* r[32];
    for (int l = 0; l < 32; ++l) {
      r[l] = &sel(s[l]);
      M[l >> 2][2 * (l & 3)] = r[l]->lo;
      M[l >> 2][2 * (l & 3) + 1] = r[l]->hi;
    }
    for (int l = 0; l < 32; ++l) *r[l] = {M[2 * (l & 3)][l >> 2], M[2 * (l & 3) + 1][l >> 2]};
  }
};

// A host executor with the tensor-core blocks (cuda::fft::run_subrow<kReal, kTc = true>, correlate_channel<true>):
// the parallel steps' items in order, the warp blocks (cuda::fft::tc_block) one after the other on the emulated warp;
// blocks_run counts them.
template <bool kRound>
struct EmuTcExec : cuda::fft::SerialExec {
  EmuTcWarp<kRound> warp;
  int64_t blocks_run = 0;
  EmuTcExec() { cuda::fft::tc_init(warp); }
  void tc_blocks(int blocks, cuda::fft::TcStep step, float* xr, float* xi, const cuda::fft::Cx<float>* K, bool conj) {
    blocks_run += blocks;
    for (int b = 0; b < blocks; ++b) cuda::fft::tc_block(warp, step, xr, xi, b * cuda::fft::kTcBlock, K, conj);
  }
};

}  // namespace ssm::test
