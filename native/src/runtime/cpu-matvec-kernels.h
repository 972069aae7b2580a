// The interface between cpu-matvec.cpp (dispatch, activation quantisation, the portable kernels) and the
// instruction-set kernels, each compiled in its own file with that set enabled (cpu-matvec-avx2.cpp,
// cpu-matvec-avx512.cpp) and called only after the CPU was checked for it. Plain structs, and helpers with internal
// linkage only: a template or inline function with external linkage shared with those files could be emitted with their
// instructions and picked by the linker for everyone.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mg {
enum class matvec_kernels;  // cpu-matvec.h
}

namespace mg::matvec {

// Weights as ggml stores them: rows of n_in values, `row_bytes` apart.
struct weights {
    const uint8_t* data;
    size_t row_bytes;
    int64_t n_in;
};

// Columns as the kernels read them: column c starts at data + c * col_bytes.
// * f32 / f16 weights: the column's n_in floats as they are.
// * q8_0 weights: the column quantised in blocks of 32 as ggml quantises an activation for q8_0 (scale max |x| / 127
//   rounded to f16, values rounded to nearest even): n_in int8 values, then at `scales_at` one float per block, at
//   `corr_at` n_in / 4 int32 (-128 times the sum of each group of 4 values: the correction a u8 x s8 dot product
//   needs when the weights are offset by 128), at `lanes_at` each block's scale 8 times (one per int32 lane of that
//   block's dot product).
// * q4_K weights: the column quantised in blocks of 256 as ggml's q8_K (scale -max/127 of the value of largest
//   magnitude, values rounded to nearest even, capped at 127): n_in int8 values, each block's 8 sub-blocks of 32 in
//   k8_slot order, then at `scales_at` one float per block, at `sums_at` 8 int16 per block (each sub-block's sum,
//   in natural order).
struct columns {
    int32_t n;
    const uint8_t* data;
    size_t col_bytes;
    size_t scales_at, corr_at, lanes_at, sums_at;
};

// Column c's arrays (internal linkage, as every helper here).
static inline const float* col_floats(const columns& x, int c) {
    return reinterpret_cast<const float*>(x.data + c * x.col_bytes);
}
static inline const int8_t* col_values(const columns& x, int c) {
    return reinterpret_cast<const int8_t*>(x.data + c * x.col_bytes);
}
static inline const float* col_scales(const columns& x, int c) {
    return reinterpret_cast<const float*>(x.data + c * x.col_bytes + x.scales_at);
}
static inline const int32_t* col_corr(const columns& x, int c) {
    return reinterpret_cast<const int32_t*>(x.data + c * x.col_bytes + x.corr_at);
}
static inline const float* col_lanes(const columns& x, int c) {
    return reinterpret_cast<const float*>(x.data + c * x.col_bytes + x.lanes_at);
}
static inline const int16_t* col_sums(const columns& x, int c) {
    return reinterpret_cast<const int16_t*>(x.data + c * x.col_bytes + x.sums_at);
}

// Where sub-block j of a q8_K column block is stored (in units of 32 values): 0 2 1 3 4 6 5 7, the pairs a 64-byte
// load of a q4_K block's nibbles holds; its own inverse.
constexpr int k8_slot[8] = {0, 2, 1, 3, 4, 6, 5, 7};

// A q4_K block as ggml stores it: f16 d and dmin, 12 bytes of 6-bit scales and mins for 8 sub-blocks, 128 bytes of
// 4-bit values (byte i of 32-byte group g: sub-block 2g's value i in the low nibble, 2g+1's in the high).
constexpr size_t q4_k_block_bytes = 144;
constexpr size_t q4_k_scales_at = 4, q4_k_values_at = 16;

// The 8 scales and 8 mins of a q4_K block (6 bits each, packed in 12 bytes) as 16 bytes: scales[0..7] then
// mins[0..7] (what ggml's get_scale_min_k4 returns one pair at a time; unpacked four bytes at a time as ggml's own
// dot products do).
static inline void q4_k_scales(const uint8_t* packed, uint32_t out[4]) {
    constexpr uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
    uint32_t in[3];
    __builtin_memcpy(in, packed, 12);
    out[0] = in[0] & low6;
    out[1] = (in[2] & low4) | (((in[0] >> 6) & low2) << 4);
    out[2] = in[1] & low6;
    out[3] = ((in[2] >> 4) & low4) | (((in[1] >> 6) & low2) << 4);
}

// How far ahead of the row being read the kernels prefetch the weights: on the 2-core development VM (AMD EPYC,
// AVX-512) musicgen-small's f16 products alone took 17.0 ms without, 14.7 ms with 8 KiB (median of 3, alternating
// builds), q8_0 10.0 -> 9.1 ms; 1 KiB did nothing, 16 KiB less than 8.
constexpr size_t prefetch_bytes = 8192;

// Softmax's exp in the AVX-512 and AVX2 kernels, for x <= 0: 2^n exp(r) with n = round(x / ln 2), r = x - n ln 2 (ln 2
// in two parts), exp(r) by Cephes' expf polynomial (about 1 ulp): ((((p0 r + p1) r + p2) r + p3) r + p4) r + p5, times
// r^2, plus r + 1. 0 below exp_min (where float's exp leaves the normal range) and for -inf.
constexpr float exp_min = -87.3f, exp_log2e = 1.44269504088896341f;
constexpr float exp_ln2_hi = 0.693359375f, exp_ln2_lo = -2.12194440e-4f;
constexpr float exp_poly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                               4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

// erf in the vector GELU, for a = |x|: 1 - t (c1 + t (c2 + t (c3 + t (c4 + t c5)))) exp(-a^2), t = 1 / (1 + p a)
// (Abramowitz and Stegun 7.1.26, absolute error at most 1.5e-7, the size of a float's rounding of 1 + erf), the sign
// of x put back after.
constexpr float erf_p = 0.3275911f;
constexpr float erf_poly[5] = {0.254829592f, -0.284496736f, 1.421413741f, -1.453152027f, 1.061405429f};
constexpr float gelu_sqrt_2_inv = 0.70710678118654752440084436210484f;

// The EnCodec decoder's ELU (alpha 1) through expm1 for x <= 0: x = n ln2 + r with |r| <= ln2 / 2, expm1(x) =
// 2^n expm1(r) + (2^n - 1), expm1(r) by its Taylor series to degree 7 (truncation below 2e-8 relative for |r| <=
// 0.347). Below -30 the result rounds to -1 in float anyway, which also keeps 2^n a normal number. Every set does
// the same operations in the same order (no contraction into FMAs: the kernel files are compiled with
// -ffp-contract=off), so every element gets the same value whichever set and lane computes it: a stream's pushes
// cut the activations at other places than a whole-clip decode does.
constexpr float elu_min_x = -30.0f;
constexpr float elu_log2e = 1.44269504f;
constexpr float elu_round_magic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
constexpr float elu_ln2_hi = 0.693145752f;      // few mantissa bits: n * ln2_hi is exact
constexpr float elu_ln2_lo = 1.42860677e-6f;
constexpr float elu_taylor[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f};

static inline float elu_scalar(float v) {
    const float x = v < 0.0f ? (v > elu_min_x ? v : elu_min_x) : 0.0f;
    const float n = (x * elu_log2e + elu_round_magic) - elu_round_magic;
    const float r = (x - n * elu_ln2_hi) - n * elu_ln2_lo;
    float p = elu_taylor[0];
    for (int i = 1; i < 6; ++i) p = p * r + elu_taylor[i];
    p = p * r * r + r;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    __builtin_memcpy(&scale, &bits, sizeof scale);
    return v > 0.0f ? v : scale * p + (scale - 1.0f);
}

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
    void (*q4_k)(const weights&, const columns&, const output&, int64_t r0, int64_t r1);
    // The other product, rows as the columns of a matrix: y[i] = sum over rows r in [r0, r1) of p[r] * row r's value
    // i, for i < w.n_in (f32 or f16 rows): attention's probabilities times the cached values, stored one row per
    // position (cpu-attention.h).
    void (*f32_weighted_sum)(const weights&, const float* p, int64_t r0, int64_t r1, float* y);
    void (*f16_weighted_sum)(const weights&, const float* p, int64_t r0, int64_t r1, float* y);
    // One column quantised for q8_0 weights (the layout of `columns` above): n_in / 32 blocks of values, their
    // scales, the corrections and the scales per lane. Every set gives the same bytes: amax / 127 rounded to f16, the
    // values x * (127 / amax) rounded to nearest even.
    void (*q8_0_column)(const float* x, int64_t n_in, int8_t* q, float* scales, int32_t* corr, float* lanes);
    // One column quantised for q4_K weights (the layout of `columns` above): n_in / 256 blocks of values in
    // k8_slot order, their scales and their sub-blocks' sums. Every set gives the same bytes: the scale -max / 127 of
    // the first value of largest magnitude, the values x * (-127 / max) rounded to nearest even, capped at 127.
    void (*q8_k_column)(const float* x, int64_t n_in, int8_t* q, float* scales, int16_t* sums);
    // GELU in place, y = 0.5 y (1 + erf(y / sqrt 2)) as ggml_gelu_erf: the scalar set with the C library's erf, the
    // vector sets with erf_poly below.
    void (*gelu_erf)(float* y, int64_t n);
    // The decoder's ELU of n values (dst may be src), as elu_scalar for every element.
    void (*elu)(const float* src, float* dst, int64_t n);
    // Frames of a stride-1 convolution from its input frames, the columns never formed (the EnCodec decoder's CPU
    // convolutions, codec/decoder-cpu-ops.h): y[t * y_step + o] = (sum over k < n_k of w[k * w_step + o] *
    // x[t * x_step + k]) + bias[o] for t < n_t, o < n_o, w the matrix with the output channel fastest and x the input
    // frames x_step floats apart (frame t's column: the n_k values from x + t * x_step). Each sum is a chain of fused
    // multiply-adds from 0 in k order, so every set gives every output the same bits wherever its frame and channel
    // fall in the blocks. Null in the scalar set: there ggml's products of the gathered columns are faster.
    void (*conv_frames)(const float* w, int64_t w_step, const float* bias, int64_t n_o, int64_t n_k, const float* x,
                        int64_t x_step, float* y, int64_t y_step, int64_t n_t);
    // Attention's softmax, unnormalised: x[j] = exp(x[j] * scale + mask[j] - m) for j < n, m the largest of the
    // x[j] * scale + mask[j]; returns the sum of the new x[j] (exp of -inf is 0).
    float (*softmax)(float* x, const float* mask, float scale, int64_t n);
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

// The kernels of a kind (cpu-matvec.h), or null for ggml's; set up once, valid for the process.
const kernel_set* kernel_set_of(matvec_kernels kernels);

// Defined in their instruction set's file (x86-64 with GCC or Clang only).
kernel_set avx2_kernels();
kernel_set avx512_kernels();

}  // namespace mg::matvec
