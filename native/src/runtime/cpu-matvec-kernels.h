// The interface between cpu-matvec.cpp (dispatch, activation quantisation, the portable kernels) and the
// instruction-set kernels, each compiled in its own file with that set enabled (cpu-matvec-avx2.cpp,
// cpu-matvec-avx512.cpp) and called only after the CPU was checked for it. Plain structs and functions only: a
// template or inline function shared with those files could be emitted with their instructions and picked by the
// linker for everyone.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mg::matvec {

// Weights as ggml stores them: rows of n_in values, `row_bytes` apart.
struct weights {
    const uint8_t* data;
    size_t row_bytes;
    int64_t n_in;
};

// Columns as the kernels read them. f32 / f16 weights: `f32` holds each column's n_in floats, `col_floats` apart.
// q8_0 weights: each column quantised in blocks of 32 as ggml quantises an activation for q8_0 (scale = max |x| /
// 127 rounded to f16, values rounded to nearest even), in `q8` (n_in int8), `q8_scale` (one float per block) and
// `q8_corr` (n_in / 4 int32: -128 times the sum of each group of 4 values, the correction a u8 x s8 dot product
// needs when the weights are offset by 128) and `q8_scale_lanes` (each block's scale 8 times: one per int32 lane of
// that block's dot product), each column `col_bytes` after the previous one.
struct columns {
    int32_t n;
    const float* f32;
    size_t col_floats;
    const int8_t* q8;
    const float* q8_scale;
    const int32_t* q8_corr;
    const float* q8_scale_lanes;
    size_t col_bytes;
};

// y[c * y_col + r] = row r of the weights . column c, for rows [r0, r1).
struct output {
    float* y;
    size_t y_col;
};

// The kernels of one instruction set, by weight type.
struct kernel_set {
    void (*f32)(const weights&, const columns&, const output&, int64_t r0, int64_t r1);
    void (*f16)(const weights&, const columns&, const output&, int64_t r0, int64_t r1);
    void (*q8_0)(const weights&, const columns&, const output&, int64_t r0, int64_t r1);
};

// The most columns one pass keeps in registers; wider products loop over groups of this many.
constexpr int32_t max_pass_columns = 4;

// A kernel_set entry from a template over the number of columns (1..max_pass_columns) of one pass.
#define MG_MATVEC_BY_COLUMNS(kernel)                                                    \
    [](const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) { \
        switch (x.n) {                                                                  \
            case 1:                                                                     \
                return kernel<1>(w, x, out, r0, r1);                                    \
            case 2:                                                                     \
                return kernel<2>(w, x, out, r0, r1);                                    \
            case 3:                                                                     \
                return kernel<3>(w, x, out, r0, r1);                                    \
            default:                                                                    \
                return kernel<4>(w, x, out, r0, r1);                                    \
        }                                                                               \
    }

// Defined in their instruction set's file (x86-64 with GCC or Clang only).
kernel_set avx2_kernels();
kernel_set avx512_kernels();

}  // namespace mg::matvec
