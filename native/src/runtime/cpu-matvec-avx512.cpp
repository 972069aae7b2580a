// The AVX-512 matrix-vector kernels (see cpu-matvec-kernels.h): compiled with AVX-512 F/BW/VL/DQ/VNNI, FMA and
// F16C enabled, called only where the CPU has them. Each weight row is loaded once and dotted with up to 4 columns
// held in registers. q8_0 takes two blocks (64 weights) per instruction with VNNI's u8 x s8 dot product: the weights
// offset by 128 to make them unsigned, the offset's contribution taken back by starting each lane's sum from the
// column's precomputed correction (-128 times the sum of that lane's 4 activation values).
#include "runtime/cpu-matvec-kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <algorithm>
#include <cmath>

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
            const size_t line = (half_weights ? 2 : 4) * static_cast<size_t>(k);
            _mm_prefetch(reinterpret_cast<const char*>(row + line + prefetch_bytes), _MM_HINT_T0);
            if (!half_weights)
                _mm_prefetch(reinterpret_cast<const char*>(row + line + 64 + prefetch_bytes), _MM_HINT_T0);
            const __m512 w0 = load_weights<half_weights>(row, k, 0xFFFF);
            const __m512 w1 = load_weights<half_weights>(row, k + 16, 0xFFFF);
            for (int c = 0; c < NC; ++c) {
                const float* col = col_floats(x, c) + k;
                acc0[c] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(col), acc0[c]);
                acc1[c] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(col + 16), acc1[c]);
            }
        }
        for (int64_t k = n32; k < n; k += 16) {
            const int64_t left = n - k;
            const __mmask16 mask = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
            const __m512 wk = load_weights<half_weights>(row, k, mask);
            for (int c = 0; c < NC; ++c) {
                acc0[c] = _mm512_fmadd_ps(wk, _mm512_maskz_loadu_ps(mask, col_floats(x, c) + k), acc0[c]);
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
            _mm_prefetch(reinterpret_cast<const char*>(b0 + prefetch_bytes), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(b0 + 64 + prefetch_bytes), _MM_HINT_T0);
            const uint8_t* b1 = b0 + 34;
            const __m512i wq =
                _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 2))),
                                   _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1 + 2)), 1);
            const __m512i wu = _mm512_xor_si512(wq, offset);
            const __m512 dw =
                _mm512_insertf32x8(_mm512_zextps256_ps512(_mm256_set1_ps(half(b0))), _mm256_set1_ps(half(b1)), 1);
            for (int c = 0; c < NC; ++c) {
                const __m512i xq = _mm512_loadu_si512(col_values(x, c) + b * 32);
                const __m512i corr = _mm512_loadu_si512(col_corr(x, c) + b * 8);
                const __m512 dx = _mm512_loadu_ps(col_lanes(x, c) + b * 8);
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
                const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col_values(x, c) + b * 32));
                const __m256i corr = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col_corr(x, c) + b * 8));
                const float dx = col_scales(x, c)[b];
                tail[c] =
                    _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(corr, wu, xq)), _mm256_set1_ps(half(b0) * dx));
            }
        }
        for (int c = 0; c < NC; ++c) out.y[c * out.y_col + r] = _mm512_reduce_add_ps(acc[c]) + hsum(tail[c]);
    }
}

// q4_K: a 64-byte load of a block's nibbles holds sub-blocks (0, 2) in its low and (1, 3) in its high nibbles (then
// 4-7 likewise), which is why the columns store their sub-blocks in k8_slot order: one load each. Pairs of u8 x s8
// products summed to int16, then multiplied by the sub-block's scale and summed to int32 (VNNI's vpdpwssd); per block
// one float multiply-add, the mins from the column's sub-block sums.
template <int NC>
void q4_k_rows(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    const int64_t n_blocks = w.n_in / 256;
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    // 16-bit lanes 0-15 take one sub-block's scale, 16-31 the other's: (0, 2), (1, 3), (4, 6), (5, 7).
    const __m512i pick[4] = {
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(0), _mm512_set1_epi16(2)),
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(1), _mm512_set1_epi16(3)),
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(4), _mm512_set1_epi16(6)),
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(5), _mm512_set1_epi16(7)),
    };
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        __m512 acc[NC];
        __m128 acc_mins[NC];
        for (int c = 0; c < NC; ++c) {
            acc[c] = _mm512_setzero_ps();
            acc_mins[c] = _mm_setzero_ps();
        }
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* block = row + b * q4_k_block_bytes;
            _mm_prefetch(reinterpret_cast<const char*>(block + prefetch_bytes), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(block + 64 + prefetch_bytes), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(block + 128 + prefetch_bytes), _MM_HINT_T0);
            uint32_t packed[4];
            q4_k_scales(block + q4_k_scales_at, packed);
            const __m128i scales_mins = _mm_set_epi32(static_cast<int>(packed[3]), static_cast<int>(packed[2]),
                                                      static_cast<int>(packed[1]), static_cast<int>(packed[0]));
            const __m512i scales16 = _mm512_zextsi128_si512(_mm_cvtepu8_epi16(scales_mins));
            const __m128i mins16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(scales_mins, scales_mins));
            const float d = half(block), dmin = half(block + 2);
            const __m512i q4a = _mm512_loadu_si512(block + q4_k_values_at);
            const __m512i q4b = _mm512_loadu_si512(block + q4_k_values_at + 64);
            const __m512i nibbles[4] = {
                _mm512_and_si512(q4a, low4),
                _mm512_and_si512(_mm512_srli_epi16(q4a, 4), low4),
                _mm512_and_si512(q4b, low4),
                _mm512_and_si512(_mm512_srli_epi16(q4b, 4), low4),
            };
            __m512i scale[4];
            for (int i = 0; i < 4; ++i) scale[i] = _mm512_permutexvar_epi16(pick[i], scales16);
            for (int c = 0; c < NC; ++c) {
                const int8_t* q8 = col_values(x, c) + b * 256;
                const float dx = col_scales(x, c)[b];
                const int16_t* sums = col_sums(x, c) + b * 8;
                __m512i dot = _mm512_setzero_si512();
                for (int i = 0; i < 4; ++i) {
                    const __m512i pairs = _mm512_maddubs_epi16(nibbles[i], _mm512_loadu_si512(q8 + 64 * i));
                    dot = _mm512_dpwssd_epi32(dot, pairs, scale[i]);
                }
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_set1_ps(d * dx), acc[c]);
                const __m128i dot_mins =
                    _mm_madd_epi16(mins16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(sums)));
                acc_mins[c] = _mm_fmadd_ps(_mm_cvtepi32_ps(dot_mins), _mm_set1_ps(dmin * dx), acc_mins[c]);
            }
        }
        for (int c = 0; c < NC; ++c) {
            __m128 m = acc_mins[c];
            m = _mm_add_ps(m, _mm_movehl_ps(m, m));
            m = _mm_add_ss(m, _mm_movehdup_ps(m));
            out.y[c * out.y_col + r] = _mm512_reduce_add_ps(acc[c]) - _mm_cvtss_f32(m);
        }
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

// y = sum of p[r] * row r: 64 outputs at a time in four accumulators, two rows per iteration in two sets of them.
template <bool half_weights>
void weighted_sum(const weights& w, const float* p, int64_t r0, int64_t r1, float* y) {
    const int64_t n = w.n_in;
    constexpr size_t chunk_bytes = 64 * (half_weights ? 2 : 4);  // 64 values of a row
    for (int64_t i0 = 0; i0 < n; i0 += 64) {
        const size_t chunk_at = static_cast<size_t>(i0) / 64 * chunk_bytes + prefetch_bytes;
        __mmask16 masks[4];
        for (int j = 0; j < 4; ++j) {
            const int64_t left = n - (i0 + 16 * j);
            masks[j] = left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
        }
        __m512 acc0[4], acc1[4];
        for (int j = 0; j < 4; ++j) acc0[j] = acc1[j] = _mm512_setzero_ps();
        int64_t r = r0;
        for (; r + 1 < r1; r += 2) {
            const uint8_t* row0 = w.data + r * w.row_bytes;
            const uint8_t* row1 = row0 + w.row_bytes;
            // Every cache line of this chunk of both rows, prefetch_bytes ahead.
            for (size_t line = chunk_at; line < chunk_at + chunk_bytes; line += 64) {
                _mm_prefetch(reinterpret_cast<const char*>(row0 + line), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(row1 + line), _MM_HINT_T0);
            }
            const __m512 p0 = _mm512_set1_ps(p[r]), p1 = _mm512_set1_ps(p[r + 1]);
            for (int j = 0; j < 4; ++j) {
                acc0[j] = _mm512_fmadd_ps(p0, load_weights<half_weights>(row0, i0 + 16 * j, masks[j]), acc0[j]);
                acc1[j] = _mm512_fmadd_ps(p1, load_weights<half_weights>(row1, i0 + 16 * j, masks[j]), acc1[j]);
            }
        }
        if (r < r1) {
            const uint8_t* row0 = w.data + r * w.row_bytes;
            const __m512 p0 = _mm512_set1_ps(p[r]);
            for (int j = 0; j < 4; ++j) {
                acc0[j] = _mm512_fmadd_ps(p0, load_weights<half_weights>(row0, i0 + 16 * j, masks[j]), acc0[j]);
            }
        }
        for (int j = 0; j < 4; ++j) _mm512_mask_storeu_ps(y + i0 + 16 * j, masks[j], _mm512_add_ps(acc0[j], acc1[j]));
    }
}

void q8_0_column(const float* x, int64_t n_in, int8_t* q, float* scales, int32_t* corr, float* lanes) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m256i ones = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < n_in / 32; ++b) {
        const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const float d = _cvtsh_ss(_cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __m512 idv = _mm512_set1_ps(id);
        const __m256i values = _mm256_set_m128i(_mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, idv))),
                                                _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, idv))));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * b), values);
        const __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, values);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(corr + 8 * b),
                            _mm256_mullo_epi32(sums, _mm256_set1_epi32(-128)));
        _mm256_storeu_ps(lanes + 8 * b, _mm256_set1_ps(d));
        scales[b] = d;
    }
}

void q8_k_column(const float* x, int64_t n_in, int8_t* q, float* scales, int16_t* sums) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < n_in / 256; ++b) {
        const float* v = x + b * 256;
        __m512 amax16 = _mm512_setzero_ps();
        for (int k = 0; k < 16; ++k)
            amax16 = _mm512_max_ps(_mm512_andnot_ps(sign, _mm512_loadu_ps(v + 16 * k)), amax16);
        const float amax = _mm512_reduce_max_ps(amax16);
        float max = 0.0f;  // the first value of magnitude amax
        for (int k = 0; amax != 0.0f && k < 16; ++k) {
            const __mmask16 at = _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, _mm512_loadu_ps(v + 16 * k)),
                                                    _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (at) {
                max = v[16 * k + __builtin_ctz(at)];
                break;
            }
        }
        const float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        scales[b] = amax != 0.0f ? 1.0f / iscale : 0.0f;
        const __m512 iscale16 = _mm512_set1_ps(iscale);
        for (int j = 0; j < 8; ++j) {
            const __m512i lo = _mm512_min_epi32(
                _mm512_cvtps_epi32(_mm512_mul_ps(iscale16, _mm512_loadu_ps(v + 32 * j))), _mm512_set1_epi32(127));
            const __m512i hi = _mm512_min_epi32(
                _mm512_cvtps_epi32(_mm512_mul_ps(iscale16, _mm512_loadu_ps(v + 32 * j + 16))), _mm512_set1_epi32(127));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 256 + 32 * k8_slot[j]),
                                _mm256_set_m128i(_mm512_cvtepi32_epi8(hi), _mm512_cvtepi32_epi8(lo)));
            sums[b * 8 + j] = static_cast<int16_t>(_mm512_reduce_add_epi32(_mm512_add_epi32(lo, hi)));
        }
    }
}

// exp(x) for x <= 0 (cpu-matvec-kernels.h: exp_poly).
inline __m512 exp_nonpositive(__m512 x) {
    const __mmask16 normal = _mm512_cmp_ps_mask(x, _mm512_set1_ps(exp_min), _CMP_GE_OQ);
    x = _mm512_max_ps(x, _mm512_set1_ps(exp_min));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(exp_log2e)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(exp_ln2_hi), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(exp_ln2_lo), r);
    __m512 p = _mm512_set1_ps(exp_poly[0]);
    for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(exp_poly[i]));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps(normal, _mm512_scalef_ps(p, n));
}

void gelu_erf(float* y, int64_t n) {
    const __m512 sign = _mm512_set1_ps(-0.0f), one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, y + i);
        const __m512 x = _mm512_mul_ps(v, _mm512_set1_ps(gelu_sqrt_2_inv));
        const __m512 a = _mm512_andnot_ps(sign, x);
        const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(erf_p), a, one));
        __m512 poly = _mm512_set1_ps(erf_poly[4]);
        for (int k = 3; k >= 0; --k) poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(erf_poly[k]));
        const __m512 tail = _mm512_mul_ps(_mm512_mul_ps(poly, t),
                                          exp_nonpositive(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a)));
        const __m512 erf = _mm512_or_ps(_mm512_sub_ps(one, tail), _mm512_and_ps(sign, x));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(one, erf)));
    }
}

void elu(const float* src, float* dst, int64_t n) {
    const __m512 zero = _mm512_setzero_ps(), magic = _mm512_set1_ps(elu_round_magic);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(src + i);
        const __m512 x = _mm512_max_ps(_mm512_min_ps(v, zero), _mm512_set1_ps(elu_min_x));
        const __m512 k = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(elu_log2e)), magic), magic);
        const __m512 r = _mm512_sub_ps(_mm512_sub_ps(x, _mm512_mul_ps(k, _mm512_set1_ps(elu_ln2_hi))),
                                       _mm512_mul_ps(k, _mm512_set1_ps(elu_ln2_lo)));
        __m512 p = _mm512_set1_ps(elu_taylor[0]);
        for (int j = 1; j < 6; ++j) p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(elu_taylor[j]));
        p = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r);
        const __m512 scale = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(k), _mm512_set1_epi32(127)), 23));
        const __m512 neg = _mm512_add_ps(_mm512_mul_ps(scale, p), _mm512_sub_ps(scale, _mm512_set1_ps(1.0f)));
        _mm512_storeu_ps(dst + i, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), neg, v));
    }
    for (; i < n; ++i) dst[i] = elu_scalar(src[i]);
}

float softmax(float* x, const float* mask, float scale, int64_t n) {
    const __m512 scale16 = _mm512_set1_ps(scale);
    __m512 max16 = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 m = n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - j)) - 1);
        const __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + j), scale16, _mm512_maskz_loadu_ps(m, mask + j));
        _mm512_mask_storeu_ps(x + j, m, v);
        max16 = _mm512_mask_max_ps(max16, m, max16, v);
    }
    const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(max16));
    __m512 sum16 = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 m = n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - j)) - 1);
        const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), max));
        _mm512_mask_storeu_ps(x + j, m, e);
        sum16 = _mm512_mask_add_ps(sum16, m, sum16, e);
    }
    return _mm512_reduce_add_ps(sum16);
}

// conv_frames for up to 6 frames (TB) and 4 vectors of 16 output channels (V), the last one masked by `last`.
template <int TB, int V>
void conv_block(const float* w, int64_t w_step, const float* bias, int64_t n_k, const float* x, int64_t x_step,
                float* y, int64_t y_step, __mmask16 last) {
    __m512 acc[TB][V];
#pragma GCC unroll 6
    for (int t = 0; t < TB; ++t) {
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[t][v] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < n_k; ++k) {
        __m512 wv[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) wv[v] = _mm512_maskz_loadu_ps(v == V - 1 ? last : 0xFFFF, w + k * w_step + 16 * v);
#pragma GCC unroll 6
        for (int t = 0; t < TB; ++t) {
            const __m512 xb = _mm512_set1_ps(x[t * x_step + k]);
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) acc[t][v] = _mm512_fmadd_ps(wv[v], xb, acc[t][v]);
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < TB; ++t) {
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) {
            const __mmask16 m = v == V - 1 ? last : 0xFFFF;
            _mm512_mask_storeu_ps(y + t * y_step + 16 * v, m,
                                  _mm512_add_ps(acc[t][v], _mm512_maskz_loadu_ps(m, bias + 16 * v)));
        }
    }
}

template <int V>
void conv_frames_v(const float* w, int64_t w_step, const float* bias, int64_t n_k, const float* x, int64_t x_step,
                   float* y, int64_t y_step, int64_t n_t, __mmask16 last) {
    int64_t t = 0;
    for (; t + 6 <= n_t; t += 6)
        conv_block<6, V>(w, w_step, bias, n_k, x + t * x_step, x_step, y + t * y_step, y_step, last);
    const float* xt = x + t * x_step;
    float* yt = y + t * y_step;
    switch (n_t - t) {
        case 5:
            return conv_block<5, V>(w, w_step, bias, n_k, xt, x_step, yt, y_step, last);
        case 4:
            return conv_block<4, V>(w, w_step, bias, n_k, xt, x_step, yt, y_step, last);
        case 3:
            return conv_block<3, V>(w, w_step, bias, n_k, xt, x_step, yt, y_step, last);
        case 2:
            return conv_block<2, V>(w, w_step, bias, n_k, xt, x_step, yt, y_step, last);
        case 1:
            return conv_block<1, V>(w, w_step, bias, n_k, xt, x_step, yt, y_step, last);
        default:
            return;
    }
}

void conv_frames(const float* w, int64_t w_step, const float* bias, int64_t n_o, int64_t n_k, const float* x,
                 int64_t x_step, float* y, int64_t y_step, int64_t n_t) {
    for (int64_t o = 0; o < n_o; o += 64) {
        const int64_t n = std::min<int64_t>(64, n_o - o);
        const int v = static_cast<int>((n + 15) / 16);
        const __mmask16 last = n % 16 == 0 ? __mmask16(0xFFFF) : __mmask16((1u << (n % 16)) - 1);
        const float *wo = w + o, *bo = bias + o;
        float* yo = y + o;
        switch (v) {
            case 4:
                conv_frames_v<4>(wo, w_step, bo, n_k, x, x_step, yo, y_step, n_t, last);
                break;
            case 3:
                conv_frames_v<3>(wo, w_step, bo, n_k, x, x_step, yo, y_step, n_t, last);
                break;
            case 2:
                conv_frames_v<2>(wo, w_step, bo, n_k, x, x_step, yo, y_step, n_t, last);
                break;
            default:
                conv_frames_v<1>(wo, w_step, bo, n_k, x, x_step, yo, y_step, n_t, last);
                break;
        }
    }
}

}  // namespace

kernel_set avx512_kernels() {
    return {MG_MATVEC_BY_COLUMNS(f32_rows),
            MG_MATVEC_BY_COLUMNS(f16_rows),
            MG_MATVEC_BY_COLUMNS(q8_0_rows),
            MG_MATVEC_BY_COLUMNS(q4_k_rows),
            weighted_sum<false>,
            weighted_sum<true>,
            q8_0_column,
            q8_k_column,
            gelu_erf,
            elu,
            conv_frames,
            softmax};
}

}  // namespace mg::matvec

#endif
