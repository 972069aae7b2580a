// The AVX-512 matrix-vector kernels (see cpu-matvec-kernels.h): compiled with AVX-512 F/BW/VL/DQ/VNNI, FMA and
// F16C enabled, called only where the CPU has them. Each weight row is loaded once and dotted with up to 4 columns
// held in registers. q8_0 takes two blocks (64 weights) per instruction with VNNI's u8 x s8 dot product: the weights
// offset by 128 to make them unsigned, the offset's contribution taken back by starting each lane's sum from the
// column's precomputed correction (-128 times the sum of that lane's 4 activation values).
#include "runtime/cpu-matvec-kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

namespace mg::matvec {

namespace {

inline float half(const uint8_t* p) {
    uint16_t h;
    __builtin_memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 16 weights from `row` at `k` as floats (f16 or f32 storage); `mask` selects a tail shorter than 16.
template <bool half_weights>
inline __m512 load_weights(const uint8_t* row, int64_t k, __mmask16 mask) {
    if (half_weights) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, row + 2 * k));
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + k);
}

template <int NC, bool half_weights>
void float_rows(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    const int64_t n = w.n_in, n32 = n / 32 * 32;
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        __m512 acc0[NC], acc1[NC];
        for (int c = 0; c < NC; ++c) acc0[c] = acc1[c] = _mm512_setzero_ps();
        for (int64_t k = 0; k < n32; k += 32) {
            const __m512 w0 = load_weights<half_weights>(row, k, 0xFFFF);
            const __m512 w1 = load_weights<half_weights>(row, k + 16, 0xFFFF);
            for (int c = 0; c < NC; ++c) {
                const float* col = x.f32 + c * x.col_floats + k;
                acc0[c] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(col), acc0[c]);
                acc1[c] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(col + 16), acc1[c]);
            }
        }
        for (int64_t k = n32; k < n; k += 16) {
            const int64_t left = n - k;
            const __mmask16 mask = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
            const __m512 wk = load_weights<half_weights>(row, k, mask);
            for (int c = 0; c < NC; ++c) {
                acc0[c] = _mm512_fmadd_ps(wk, _mm512_maskz_loadu_ps(mask, x.f32 + c * x.col_floats + k), acc0[c]);
            }
        }
        for (int c = 0; c < NC; ++c) out.y[c * out.y_col + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[c], acc1[c]));
    }
}

template <int NC>
void q8_0_rows(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    const int64_t n_blocks = w.n_in / 32;
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        __m512 acc[NC];
        __m256 tail[NC];
        for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
        int64_t b = 0;
        for (; b + 2 <= n_blocks; b += 2) {
            const uint8_t* b0 = row + b * 34;
            const uint8_t* b1 = b0 + 34;
            const __m512i wq =
                _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 2))),
                                   _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1 + 2)), 1);
            const __m512i wu = _mm512_xor_si512(wq, offset);
            const __m512 dw =
                _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(half(b0))), _mm256_set1_ps(half(b1)), 1);
            for (int c = 0; c < NC; ++c) {
                const size_t col = c * x.col_bytes;
                const __m512i xq = _mm512_loadu_si512(x.q8 + col + b * 32);
                const __m512i corr = _mm512_loadu_si512(reinterpret_cast<const uint8_t*>(x.q8_corr) + col + b * 32);
                const __m512 dx = _mm512_loadu_ps(
                    reinterpret_cast<const float*>(reinterpret_cast<const uint8_t*>(x.q8_scale_lanes) + col) + b * 8);
                const __m512i dot = _mm512_dpbusd_epi32(corr, wu, xq);
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, dx), acc[c]);
            }
        }
        for (int c = 0; c < NC; ++c) tail[c] = _mm256_setzero_ps();
        if (b < n_blocks) {  // an odd block count: the last block at 256 bits
            const uint8_t* b0 = row + b * 34;
            const __m256i wu = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 2)),
                                                _mm256_set1_epi8(static_cast<char>(0x80)));
            for (int c = 0; c < NC; ++c) {
                const size_t col = c * x.col_bytes;
                const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q8 + col + b * 32));
                const __m256i corr = _mm256_loadu_si256(
                    reinterpret_cast<const __m256i*>(reinterpret_cast<const uint8_t*>(x.q8_corr) + col + b * 32));
                const float dx = reinterpret_cast<const float*>(reinterpret_cast<const uint8_t*>(x.q8_scale) + col)[b];
                tail[c] =
                    _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(corr, wu, xq)), _mm256_set1_ps(half(b0) * dx));
            }
        }
        for (int c = 0; c < NC; ++c) out.y[c * out.y_col + r] = _mm512_reduce_add_ps(acc[c]) + hsum(tail[c]);
    }
}

template <int NC>
void f32_rows(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    float_rows<NC, false>(w, x, out, r0, r1);
}
template <int NC>
void f16_rows(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    float_rows<NC, true>(w, x, out, r0, r1);
}

}  // namespace

kernel_set avx512_kernels() {
    return {MG_MATVEC_BY_COLUMNS(f32_rows), MG_MATVEC_BY_COLUMNS(f16_rows), MG_MATVEC_BY_COLUMNS(q8_0_rows)};
}

}  // namespace mg::matvec

#endif
