// The last two radix-16 stages of a sub-row on tensor cores: a warp takes a block of 256 consecutive positions
// through both forward stages, the spectrum product and both inverse stages in registers (a convolution,
// tc_block_conv), or through the forward stages only (spectra, tc_block_forward) or the inverse stages only
// (tc_block_inverse; real rows run forward blocks, their real-row step, inverse blocks), with bf16 operands and
// float32 accumulation (mma.m16n8k16), one load from and one store to the sub-row buffers.
//
// The algebra. The last two stages (radix 16 both, m = 16 and m = 1) act on each block of 256 positions base + 16 i1
// + i2 as a 16 x 16 matrix X[i1][i2]: stage S-2 transforms along i1 and multiplies entry (a1, i2) by the twiddle
// T[a1][i2] = exp(-2 pi i a1 i2 / 256) (its column j = i2 of stride m = 16 has the twiddle exp(-2 pi i j / 256)), stage
// S-1 transforms along i2; the inverse undoes it. With F = DFT_16 (symmetric):
//   forward : Y = F X (F the A operand, X the B operand); Y = Y o T; Z = Y F (Y the A operand: the accumulator
//             layout of two n8 tiles IS the A fragment layout, no data exchange);
//   product : Z = Z o K (K the spectrum at the same positions, conjugated when asked);
//   inverse : Y' = Z conj(F) (Z as A); Y' = Y' o conj(T); X' = conj(F) Y', computed as X'^T = Y'^T conj(F): Y'^T is
//             the A operand after an 8 x 8 transpose of each of its four bf16 blocks (movmatrix) and a swap of the
//             off-diagonal ones; the result, rows i2 and columns i1, is stored back to base + 16 i1 + i2.
// Complex products as four real ones: (Pr + i Pi)(Qr + i Qi) = Pr Qr + (-Pi) Qi + i (Pr Qi + Pi Qr), with Re, Im and
// -Im of the constant matrices kept as fragments.
//
// Shared-memory banks. In the natural order a warp's load of a B fragment reads rows 2 t (+ 1) and columns g of X:
// four runs of 8 floats 32 (padded: 33) floats apart, four-way bank conflicts, and so for the stores. So every
// fragment index stands for a permuted data index: index k for pi(k), pi swapping bits 0 and 1 and bits 2 and 3
// (tc_perm). A product sums over k, so permuting k in both operands leaves it unchanged, and a permuted output index
// carries into the next product as a permuted k. Then a load or store instruction touches rows {a, a + 1, a + 8,
// a + 9} (bank offsets 0, 16, 4, 20 with the padding) and columns {0 .. 3, 8 .. 11} + 4 j: 32 distinct banks. With
// G[m][k] = F[pi m][pi k] (symmetric, so that its A fragment registers j, j + 2 are its B fragment of n-tile j, and
// conj G is the same registers with Im negated: one constant matrix):
//   Y[pi m][pi n]  = sum_k G[m][k] X[pi k][pi n]             (X loaded permuted; then times T[pi m][pi n])
//   Z[pi m][pi n]  = sum_k Y[pi m][pi k] G[k][n]             (then times K at base + 16 pi(m) + pi(n))
//   Y'[pi m][pi n] = sum_k Z[pi m][pi k] conj G[k][n]        (then times conj T[pi m][pi n])
//   X'[pi n][pi m] = sum_k Y'^T[pi m][pi k] conj G[k][n]     (stored at base + 16 pi(n) + pi(m)).
// The forward-only block (spectra, tc_block_forward) keeps the accumulators of Y as the B fragments of Y^T (row m of
// the accumulators is column m of a B fragment) and computes Z^T[pi m][pi n] = sum_k G[m][k] Y^T[pi k][pi n], stored
// at base + 16 pi(n) + pi(m) like the convolution's result.
//
// Written once against a warp interface W, so that the CUDA kernels (W: one lane's registers and the PTX
// instructions, cuda/butterfly_conv/butterfly_fft_kernels.cuh) and the host tests (W: the 32 lanes emulated, with the instructions'
// fragment layouts from the PTX manual, tests/ops/butterfly_conv/tc_warp_emulator.h) run the same code:
//   W::H2                      a register of two 16-bit operands (low half: the element of smaller index)
//   w.pack(lo, hi)             -> H2 (rounded to bf16 on the GPU)
//   w.each(f)                  f(lane, TcLane<H2>&) for this lane (GPU) or every lane (host)
//   w.mma(sel)                 sel(TcLane&) -> TcMma: d += a b, a warp-wide m16n8k16 product (f32 accumulators)
//   w.transpose(sel)           sel(TcLane&) -> H2&: the 8 x 8 matrix of 16-bit values it holds, transposed in place
// Lane l holds (groupID g = l / 4, t = l % 4): A register r: rows g + 8 (r & 1), columns 2 t + 8 (r >> 1) (+ 1 in
// the high half); B register r: rows 2 t + 8 r (+ 1), column g; accumulator q: row g + 8 (q >> 1), column 2 t +
// (q & 1); a movmatrix register: row g, columns 2 t (+ 1).
#pragma once

#include "butterfly_conv/butterfly_fft.h"

namespace ssm::cuda::fft {

// One lane's registers.
template <class H2>
struct TcLane {
  H2 f[3][4];          // A fragments of Re, Im, -Im of G (constant); the B fragment of n-tile j: registers j, j + 2
  Cx<float> tw[2][4];  // T[pi m][pi n] at this lane's accumulator entries: n-tile j, entry q (constant)
  H2 x[2][4];          // the operand (re, im): an A fragment, or B fragments (n-tile j: registers 2 j, 2 j + 1)
  float c[2][2][4];    // accumulators: n-tile j (columns 8 j ..), re / im, entry q
};

template <class H2>
struct TcMma {
  float* d;  // 4 accumulators, d += a b
  H2 a[4];
  H2 b[2];
};

// The index permutation of the fragments (see above): bits 0 and 1, and bits 2 and 3, swapped.
SSM_HD constexpr int tc_perm(int k) { return ((k >> 1) & 1) | ((k & 1) << 1) | ((k >> 3) << 2) | (((k >> 2) & 1) << 3); }

// The block positions (0 .. 255, before padding) that lane loads into n-tile j, register r, half e (X[pi k][pi n],
// k = 2 t + 8 r + e, n = 8 j + g), and that it stores from n-tile j, accumulator q (X'[pi n][pi m], m = g + 8 (q >> 1),
// n = 8 j + 2 t + (q & 1)). A warp instruction (fixed j, r, e or j, q) touches 32 distinct banks (a unit test checks).
SSM_HD int tc_load_position(int lane, int j, int r, int e) {
  return 16 * tc_perm(2 * (lane & 3) + 8 * r + e) + tc_perm(8 * j + (lane >> 2));
}
SSM_HD int tc_store_position(int lane, int j, int q) {
  return 16 * tc_perm(8 * j + 2 * (lane & 3) + (q & 1)) + tc_perm((lane >> 2) + 8 * (q >> 1));
}

// Re, Im and -Im of F[a][b] and F[a][b + 1] (a b taken mod 16) into three registers.
template <class W, class H2>
SSM_HD void tc_f_pair(const W& w, int a, int b0, int b1, H2 (&out)[3][4], int r) {
  const Cx<float> lo = root_direct<float>((a * b0) & 15, 16), hi = root_direct<float>((a * b1) & 15, 16);
  out[0][r] = w.pack(lo.x, hi.x);
  out[1][r] = w.pack(lo.y, hi.y);
  out[2][r] = w.pack(-lo.y, -hi.y);
}

// The constant fragments: w.each over every lane once (per kernel, not per block).
template <class W>
SSM_HD void tc_init(W& w) {
  using Lane = TcLane<typename W::H2>;
  w.each([&](int lane, Lane& s) SSM_INLINE_LAMBDA {
    const int g = lane >> 2, t = lane & 3;
    static_for<0, 4>([&](auto R) SSM_INLINE_LAMBDA {
      constexpr int r = decltype(R)::value;
      // register r: row m = g + 8 (r & 1), columns k = 2 t + 8 (r >> 1) (+ 1): F[pi m][pi k]
      const int k = 2 * t + 8 * (r >> 1);
      tc_f_pair(w, tc_perm(g + 8 * (r & 1)), tc_perm(k), tc_perm(k + 1), s.f, r);
    });
    static_for<0, 2>([&](auto J) SSM_INLINE_LAMBDA {
      static_for<0, 4>([&](auto Q) SSM_INLINE_LAMBDA {
        constexpr int j = decltype(J)::value, q = decltype(Q)::value;
        s.tw[j][q] = root_direct<float>((tc_perm(g + 8 * (q >> 1)) * tc_perm(8 * j + 2 * t + (q & 1))) & 255, 256);
      });
    });
  });
}

// The per-lane steps of tc_block_conv.
template <class H2>
SSM_HD void tc_zero(TcLane<H2>& s) {
  static_for<0, 16>([&](auto I) SSM_INLINE_LAMBDA {
    constexpr int i = decltype(I)::value;
    s.c[i / 8][(i / 4) % 2][i % 4] = 0.f;
  });
}
// The accumulators, entry by entry: op(j, q, value) -> new value (complex).
template <class H2, class Op>
SSM_HD void tc_entries(TcLane<H2>& s, const Op& op) {
  static_for<0, 2>([&](auto J) SSM_INLINE_LAMBDA {
    static_for<0, 4>([&](auto Q) SSM_INLINE_LAMBDA {
      constexpr int j = decltype(J)::value, q = decltype(Q)::value;
      const Cx<float> v = op(j, q, Cx<float>{s.c[j][0][q], s.c[j][1][q]});
      s.c[j][0][q] = v.x;
      s.c[j][1][q] = v.y;
    });
  });
}
// The accumulators (16 x 16, two n-tiles) packed into the operand registers, then zeroed: as the A operand (register
// 2 j + h: n-tile j, rows g + 8 h), or with kBOfTranspose as the B fragments of the transpose (n-tile h: columns
// g + 8 h, i.e. accumulator rows; register j: rows 8 j + 2 t .., i.e. accumulator n-tile j) -- the same packing,
// stored at register 2 h + j instead of 2 j + h.
template <bool kBOfTranspose = false, class W>
SSM_HD void tc_pack(W& w, TcLane<typename W::H2>& s) {
  static_for<0, 2>([&](auto P) SSM_INLINE_LAMBDA {
    static_for<0, 2>([&](auto J) SSM_INLINE_LAMBDA {
      static_for<0, 2>([&](auto H) SSM_INLINE_LAMBDA {
        constexpr int p = decltype(P)::value, j = decltype(J)::value, h = decltype(H)::value;
        s.x[p][kBOfTranspose ? 2 * h + j : 2 * j + h] = w.pack(s.c[j][p][2 * h], s.c[j][p][2 * h + 1]);
      });
    });
  });
  tc_zero(s);
}

// acc (n-tile j, part p) += part fi of G (A) times the operand's part xp (B fragments of n-tile j).
template <class W>
SSM_HD void tc_left(W& w, int j, int p, int fi, int xp) {
  using H2 = typename W::H2;
  w.mma([&](TcLane<H2>& s) SSM_INLINE_LAMBDA {
    return TcMma<H2>{s.c[j][p], {s.f[fi][0], s.f[fi][1], s.f[fi][2], s.f[fi][3]}, {s.x[xp][2 * j], s.x[xp][2 * j + 1]}};
  });
}
// acc (n-tile j, part p) += the operand's part xp (A) times part fi of G (B fragment of n-tile j: registers j, j + 2).
template <class W>
SSM_HD void tc_right(W& w, int j, int p, int xp, int fi) {
  using H2 = typename W::H2;
  w.mma([&](TcLane<H2>& s) SSM_INLINE_LAMBDA {
    return TcMma<H2>{s.c[j][p], {s.x[xp][0], s.x[xp][1], s.x[xp][2], s.x[xp][3]}, {s.f[fi][j], s.f[fi][j + 2]}};
  });
}
// acc += operand (A) times G (kConj false) or conj(G), both n-tiles.
template <bool kConj, class W>
SSM_HD void tc_times_f(W& w) {
  static_for<0, 2>([&](auto J) SSM_INLINE_LAMBDA {
    constexpr int j = decltype(J)::value;
    // re: xr Gr - xi Gi (conj: + xi Gi); im: xr Gi + xi Gr (conj: - xr Gi)
    tc_right(w, j, 0, 0, 0);
    tc_right(w, j, 0, 1, kConj ? 1 : 2);
    tc_right(w, j, 1, 1, 0);
    tc_right(w, j, 1, 0, kConj ? 2 : 1);
  });
}
// acc += G (A) times the operand (B fragments, n-tile j: registers 2 j, 2 j + 1), both n-tiles: re Gr Xr - Gi Xi, im
// Gr Xi + Gi Xr.
template <class W>
SSM_HD void tc_f_times(W& w) {
  static_for<0, 2>([&](auto J) SSM_INLINE_LAMBDA {
    constexpr int j = decltype(J)::value;
    tc_left(w, j, 0, 0, 0);
    tc_left(w, j, 0, 2, 1);
    tc_left(w, j, 1, 0, 1);
    tc_left(w, j, 1, 1, 0);
  });
}

// X[pi k][pi n] of the block at base (planar, padded buffers) as B fragments: n-tile j holds n = 8 j + g, its
// register r k = 2 t + 8 r (+ 1); accumulators zeroed.
template <class W>
SSM_HD void tc_load(W& w, const float* xr, const float* xi, int base) {
  w.each([&](int lane, TcLane<typename W::H2>& s) SSM_INLINE_LAMBDA {
    static_for<0, 4>([&](auto I) SSM_INLINE_LAMBDA {
      constexpr int j = decltype(I)::value / 2, r = decltype(I)::value % 2;
      const int p0 = pad(base + tc_load_position(lane, j, r, 0)), p1 = pad(base + tc_load_position(lane, j, r, 1));
      s.x[0][2 * j + r] = w.pack(xr[p0], xr[p1]);
      s.x[1][2 * j + r] = w.pack(xi[p0], xi[p1]);
    });
    tc_zero(s);
  });
}
// The accumulators, entry (m, n) standing for position base + 16 pi(n) + pi(m), into the buffers.
template <class W>
SSM_HD void tc_store(W& w, float* xr, float* xi, int base) {
  w.each([&](int lane, TcLane<typename W::H2>& s) SSM_INLINE_LAMBDA {
    static_for<0, 2>([&](auto J) SSM_INLINE_LAMBDA {
      static_for<0, 4>([&](auto Q) SSM_INLINE_LAMBDA {
        constexpr int j = decltype(J)::value, q = decltype(Q)::value;
        const int p = pad(base + tc_store_position(lane, j, q));
        xr[p] = s.c[j][0][q];
        xi[p] = s.c[j][1][q];
      });
    });
  });
}
// Y = G X times T (the first forward stage and its twiddles): accumulator entry (m, n) is Y[pi m][pi n].
template <class W>
SSM_HD void tc_first_stage(W& w) {
  tc_f_times(w);
  w.each([&](int, TcLane<typename W::H2>& s) SSM_INLINE_LAMBDA {
    tc_entries(s, [&](int j, int q, Cx<float> v) SSM_INLINE_LAMBDA { return cmul(v, s.tw[j][q]); });
  });
}

// Every operand register transposed as an 8 x 8 matrix (movmatrix); with swap, registers 1 and 2 (the off-diagonal
// blocks of an A fragment) exchanged: the A fragment of the transpose.
template <class W>
SSM_HD void tc_transpose(W& w, bool swap) {
  using Lane = TcLane<typename W::H2>;
  static_for<0, 8>([&](auto I) SSM_INLINE_LAMBDA {
    constexpr int p = decltype(I)::value / 4, r = decltype(I)::value % 4;
    w.transpose([&](Lane& s) -> typename W::H2& { return s.x[p][r]; });
  });
  if (swap)
    w.each([&](int, Lane& s) SSM_INLINE_LAMBDA {
      static_for<0, 2>([&](auto P) SSM_INLINE_LAMBDA {
        constexpr int p = decltype(P)::value;
        const auto tmp = s.x[p][1];
        s.x[p][1] = s.x[p][2];
        s.x[p][2] = tmp;
      });
    });
}

// From the A fragment of Z (entry (m, k): Z[pi m][pi k]): both inverse stages, stored to the block at base.
template <class W>
SSM_HD void tc_inverse(W& w, float* xr, float* xi, int base) {
  using Lane = TcLane<typename W::H2>;
  tc_times_f<true>(w);  // Y'[pi m][pi n] = Z conj(G)
  w.each([&](int, Lane& s) SSM_INLINE_LAMBDA {
    tc_entries(s, [&](int j, int q, Cx<float> v) SSM_INLINE_LAMBDA { return cmul_conj(v, s.tw[j][q]); });
    tc_pack(w, s);
  });
  tc_transpose(w, true);  // Y'^T
  tc_times_f<true>(w);    // entry (m, n): X'[pi n][pi m] = (Y'^T conj(G))[pi m][pi n]
  tc_store(w, xr, xi, base);
}

// The block of 256 positions at base of the sub-row buffers (planar, padded): both forward stages, times K (the
// spectrum at the block's positions, conjugated when conj), both inverse stages, in place.
template <class W>
SSM_HD void tc_block_conv(W& w, float* xr, float* xi, int base, const Cx<float>* K, bool conj) {
  using Lane = TcLane<typename W::H2>;
  tc_load(w, xr, xi, base);
  tc_first_stage(w);
  w.each([&](int, Lane& s) SSM_INLINE_LAMBDA { tc_pack(w, s); });
  tc_times_f<false>(w);  // Z[pi m][pi n] = Y G
  w.each([&](int lane, Lane& s) SSM_INLINE_LAMBDA {
    const int g = lane >> 2, t = lane & 3;
    tc_entries(s, [&](int j, int q, Cx<float> v) SSM_INLINE_LAMBDA {
      return times_spectrum(v, K[16 * tc_perm(g + 8 * (q >> 1)) + tc_perm(8 * j + 2 * t + (q & 1))], conj);
    });
    tc_pack(w, s);
  });
  tc_inverse(w, xr, xi, base);
}

// The block of 256 positions at base: both forward stages only (a spectrum), in place.
template <class W>
SSM_HD void tc_block_forward(W& w, float* xr, float* xi, int base) {
  tc_load(w, xr, xi, base);
  tc_first_stage(w);
  w.each([&](int, TcLane<typename W::H2>& s) SSM_INLINE_LAMBDA { tc_pack<true>(w, s); });  // B fragments of Y^T
  tc_f_times(w);  // entry (m, n): Z[pi n][pi m] = (G Y^T)[m][n]
  tc_store(w, xr, xi, base);
}

// The block of 256 positions at base: both inverse stages only (from a spectrum), in place. Loaded as B fragments
// (register 2 j + r: the 8 x 8 block (r, j) of Z[pi k][pi n], transposed), each register transposed is the A
// fragment of Z.
template <class W>
SSM_HD void tc_block_inverse(W& w, float* xr, float* xi, int base) {
  tc_load(w, xr, xi, base);
  tc_transpose(w, false);
  tc_inverse(w, xr, xi, base);
}

// What a warp block does (TcStep, butterfly_fft.h: run_subrow's ex.tc_blocks).
template <class W>
SSM_HD void tc_block(W& w, TcStep step, float* xr, float* xi, int base, const Cx<float>* K, bool conj) {
  if (step == TcStep::kConvolve)
    tc_block_conv(w, xr, xi, base, K + base, conj);
  else if (step == TcStep::kForward)
    tc_block_forward(w, xr, xi, base);
  else
    tc_block_inverse(w, xr, xi, base);
}

}  // namespace ssm::cuda::fft
