// A check of the CPU matrix-vector kernels (runtime/cpu-matvec.h) for tests: one random product through a kernel
// set and through ggml_mul_mat, on the CPU backend, compared. Not part of the public API.
#pragma once
#include <ggml.h>

#include <cstdint>

#include "runtime/cpu-matvec.h"

namespace mg {

struct matvec_check {
    double max_abs_diff = 0;   // largest |ours - ggml's| over the outputs
    double max_abs_ref = 0;    // largest |ggml's| (the scale the difference is read against)
    double max_abs_exact = 0;  // largest |ours - the exact product| of the stored weights and f32 columns
    // f32 / f16 only: the kernels' other product, the rows weighted by random values and summed (attention's values
    // times probabilities), against the exact sum: the largest difference and the largest exact value.
    double weighted_sum_exact = 0;
    double weighted_sum_ref = 0;
    // q8_0 and q4_K: bytes in which the kernel set's quantised columns (values, scales, then the corrections and lane
    // scales or the sub-block sums) differ from the scalar set's, over the random columns and one of ties (x times the
    // scale's inverse exactly halfway between two integers), zero blocks and tiny values.
    int64_t quantized_mismatches = 0;
    // The kernel set's GELU against the scalar set's (the C library's erf) over values in [-8, 8] and 0: the largest
    // difference relative to the input's magnitude.
    double gelu_diff = 0;
    // The EnCodec decoder's ELU (cpu_elu) through the kernel set against the scalar set's over values in [-40, 10],
    // zeros of both signs, -30 and NaN, at every offset of the vector lanes: elements whose bits differ.
    int64_t elu_mismatches = 0;
    // The EnCodec decoder's direct convolution (conv_frames; not in the scalar set: conv_checked false): n_in values
    // per frame from frames a third of that apart (columns that overlap, as a kernel-3 convolution's do), n_out
    // channels, frames at every count of the blocks' remainders, whole and as a channel range starting at 16. Outputs
    // whose bits differ from a chain of std::fma in k order plus the bias, and the largest difference from the exact
    // sum with the largest exact value.
    bool conv_checked = false;
    int64_t conv_mismatches = 0;
    double conv_exact = 0;
    double conv_ref = 0;
};

// Weights [n_in, n_out] of `type` (f32, f16, q8_0, q4_K) quantised from uniform values in [-1, 1), columns [n_in,
// n_cols] likewise, from `seed` (and n_out row weights for the weighted sum); n_threads CPU threads. Throws
// mg::error(invalid_argument) for shapes the kernels do not take or kernels this CPU does not run.
matvec_check check_cpu_matvec(ggml_type type, int64_t n_in, int64_t n_out, int32_t n_cols, matvec_kernels kernels,
                              uint32_t seed, int n_threads);

}  // namespace mg
