// The AVX2 matrix-vector kernels (see cpu-matvec-kernels.h): compiled with AVX2, FMA and F16C enabled, called only
// where the CPU has them. Each weight row is loaded once and dotted with up to 4 columns held in registers; q8_0 as
// ggml's AVX2 dot product does it (|w| times x with w's sign, pairs summed to int32, scaled per block).
#include "runtime/cpu-matvec-kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace mg::matvec {

namespace {

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float half(const uint8_t* p) {
    uint16_t h;
    __builtin_memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

// Rows of f32 (half_weights false) or f16 weights, 16 values per iteration, the rest one by one.
template <int NC, bool half_weights>
void float_rows(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    const int64_t n = w.n_in, n16 = n / 16 * 16;
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        __m256 acc0[NC], acc1[NC];
        for (int c = 0; c < NC; ++c) acc0[c] = acc1[c] = _mm256_setzero_ps();
        for (int64_t k = 0; k < n16; k += 16) {
            _mm_prefetch(reinterpret_cast<const char*>(row + (half_weights ? 2 : 4) * k + prefetch_bytes), _MM_HINT_T0);
            __m256 w0, w1;
            if (half_weights) {
                w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k)));
                w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k + 16)));
            } else {
                w0 = _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
                w1 = _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k + 8);
            }
            for (int c = 0; c < NC; ++c) {
                const float* col = col_floats(x, c) + k;
                acc0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(col), acc0[c]);
                acc1[c] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(col + 8), acc1[c]);
            }
        }
        for (int c = 0; c < NC; ++c) {
            const float* col = col_floats(x, c);
            float sum = hsum(_mm256_add_ps(acc0[c], acc1[c]));
            for (int64_t k = n16; k < n; ++k) {
                sum += (half_weights ? half(row + 2 * k) : reinterpret_cast<const float*>(row)[k]) * col[k];
            }
            out.y[c * out.y_col + r] = sum;
        }
    }
}

template <int NC>
void q8_0_rows(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    const int64_t n_blocks = w.n_in / 32;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        __m256 acc[NC];
        for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* block = row + b * 34;
            _mm_prefetch(reinterpret_cast<const char*>(block + prefetch_bytes), _MM_HINT_T0);
            const float dw = half(block);
            const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
            const __m256i aw = _mm256_sign_epi8(wq, wq);
            for (int c = 0; c < NC; ++c) {
                const int8_t* q = col_values(x, c) + b * 32;
                const float dx = col_scales(x, c)[b];
                const __m256i sx = _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)), wq);
                const __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones);
                acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * dx), _mm256_cvtepi32_ps(dot), acc[c]);
            }
        }
        for (int c = 0; c < NC; ++c) out.y[c * out.y_col + r] = hsum(acc[c]);
    }
}

// q4_K: per 32-byte group the low and high nibbles (two sub-blocks) times the column's values, pairs summed to int16
// and multiplied by the sub-block's scale into int32; per block one float multiply-add, the mins from the column's
// sub-block sums.
template <int NC>
void q4_k_rows(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    const int64_t n_blocks = w.n_in / 256;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        __m256 acc[NC];
        float acc_mins[NC];
        for (int c = 0; c < NC; ++c) {
            acc[c] = _mm256_setzero_ps();
            acc_mins[c] = 0.0f;
        }
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* block = row + b * q4_k_block_bytes;
            _mm_prefetch(reinterpret_cast<const char*>(block + prefetch_bytes), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(block + 64 + prefetch_bytes), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(block + 128 + prefetch_bytes), _MM_HINT_T0);
            uint32_t packed[4];
            q4_k_scales(block + q4_k_scales_at, packed);
            const uint8_t* scales = reinterpret_cast<const uint8_t*>(packed);
            const uint8_t* mins = scales + 8;
            const float d = half(block), dmin = half(block + 2);
            __m256i lo[4], hi[4];
            for (int g = 0; g < 4; ++g) {
                const __m256i q4 =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + q4_k_values_at + 32 * g));
                lo[g] = _mm256_and_si256(q4, low4);
                hi[g] = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4);
            }
            for (int c = 0; c < NC; ++c) {
                const int8_t* q8 = col_values(x, c) + b * 256;
                const float dx = col_scales(x, c)[b];
                const int16_t* sums = col_sums(x, c) + b * 8;
                __m256i dot = _mm256_setzero_si256();
                for (int g = 0; g < 4; ++g) {
                    const __m256i x_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32 * k8_slot[2 * g]));
                    const __m256i x_hi =
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32 * k8_slot[2 * g + 1]));
                    dot = _mm256_add_epi32(
                        dot, _mm256_madd_epi16(_mm256_maddubs_epi16(lo[g], x_lo), _mm256_set1_epi16(scales[2 * g])));
                    dot = _mm256_add_epi32(dot, _mm256_madd_epi16(_mm256_maddubs_epi16(hi[g], x_hi),
                                                                  _mm256_set1_epi16(scales[2 * g + 1])));
                }
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(d * dx), acc[c]);
                int32_t dot_mins = 0;
                for (int j = 0; j < 8; ++j) dot_mins += mins[j] * sums[j];
                acc_mins[c] += dmin * dx * static_cast<float>(dot_mins);
            }
        }
        for (int c = 0; c < NC; ++c) out.y[c * out.y_col + r] = hsum(acc[c]) - acc_mins[c];
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

// 8 values of `row` at `i` as floats (f16 or f32 storage).
template <bool half_weights>
inline __m256 load8(const uint8_t* row, int64_t i) {
    if (half_weights) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
}

// y = sum of p[r] * row r: 64 outputs at a time in eight accumulators, the last n % 64 outputs one by one.
template <bool half_weights>
void weighted_sum(const weights& w, const float* p, int64_t r0, int64_t r1, float* y) {
    const int64_t n = w.n_in, n64 = n / 64 * 64;
    constexpr size_t chunk_bytes = 64 * (half_weights ? 2 : 4);  // 64 values of a row
    for (int64_t i0 = 0; i0 < n64; i0 += 64) {
        const size_t chunk_at = static_cast<size_t>(i0) / 64 * chunk_bytes + prefetch_bytes;
        __m256 acc[8];
        for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
        for (int64_t r = r0; r < r1; ++r) {
            const uint8_t* row = w.data + r * w.row_bytes;
            // Every cache line of this chunk of the row, prefetch_bytes ahead.
            for (size_t line = chunk_at; line < chunk_at + chunk_bytes; line += 64) {
                _mm_prefetch(reinterpret_cast<const char*>(row + line), _MM_HINT_T0);
            }
            const __m256 pr = _mm256_set1_ps(p[r]);
            for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(pr, load8<half_weights>(row, i0 + 8 * j), acc[j]);
        }
        for (int j = 0; j < 8; ++j) _mm256_storeu_ps(y + i0 + 8 * j, acc[j]);
    }
    for (int64_t i = n64; i < n; ++i) {
        float sum = 0.0f;
        for (int64_t r = r0; r < r1; ++r) {
            const uint8_t* row = w.data + r * w.row_bytes;
            sum += p[r] * (half_weights ? half(row + 2 * i) : reinterpret_cast<const float*>(row)[i]);
        }
        y[i] = sum;
    }
}

void q8_0_column(const float* x, int64_t n_in, int8_t* q, float* scales, int32_t* corr, float* lanes) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n_in / 32; ++b) {
        __m256 v[4];
        for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + 32 * b + 8 * j);
        const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                                       _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const float d = _cvtsh_ss(_cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __m256 idv = _mm256_set1_ps(id);
        __m256i i32[4];
        for (int j = 0; j < 4; ++j) i32[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], idv));
        // packs interleaves the 128-bit lanes; the permutation puts the 32 values back in order.
        const __m256i packed =
            _mm256_packs_epi16(_mm256_packs_epi32(i32[0], i32[1]), _mm256_packs_epi32(i32[2], i32[3]));
        const __m256i values = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * b), values);
        const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), values), _mm256_set1_epi16(1));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(corr + 8 * b),
                            _mm256_mullo_epi32(sums, _mm256_set1_epi32(-128)));
        _mm256_storeu_ps(lanes + 8 * b, _mm256_set1_ps(d));
        scales[b] = d;
    }
}

void q8_k_column(const float* x, int64_t n_in, int8_t* q, float* scales, int16_t* sums) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n_in / 256; ++b) {
        const float* v = x + b * 256;
        __m256 amax8 = _mm256_setzero_ps();
        for (int k = 0; k < 32; ++k) amax8 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(v + 8 * k)), amax8);
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax8), _mm256_extractf128_ps(amax8, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        float max = 0.0f;  // the first value of magnitude amax
        for (int k = 0; amax != 0.0f && k < 32; ++k) {
            const int at = _mm256_movemask_ps(
                _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(v + 8 * k)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (at) {
                max = v[8 * k + __builtin_ctz(static_cast<unsigned>(at))];
                break;
            }
        }
        const float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        scales[b] = amax != 0.0f ? 1.0f / iscale : 0.0f;
        const __m256 iscale8 = _mm256_set1_ps(iscale);
        for (int j = 0; j < 8; ++j) {
            __m256i i32[4];
            for (int k = 0; k < 4; ++k) {
                i32[k] =
                    _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(iscale8, _mm256_loadu_ps(v + 32 * j + 8 * k))),
                                     _mm256_set1_epi32(127));
            }
            // packs interleaves the 128-bit lanes; the permutation puts the 32 values back in order.
            const __m256i packed =
                _mm256_packs_epi16(_mm256_packs_epi32(i32[0], i32[1]), _mm256_packs_epi32(i32[2], i32[3]));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 256 + 32 * k8_slot[j]),
                                _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
            const __m256i sum8 = _mm256_add_epi32(_mm256_add_epi32(i32[0], i32[1]), _mm256_add_epi32(i32[2], i32[3]));
            __m128i sum4 = _mm_add_epi32(_mm256_castsi256_si128(sum8), _mm256_extracti128_si256(sum8, 1));
            sum4 = _mm_add_epi32(sum4, _mm_unpackhi_epi64(sum4, sum4));
            sum4 = _mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 1));
            sums[b * 8 + j] = static_cast<int16_t>(_mm_cvtsi128_si32(sum4));
        }
    }
}

// exp(x) for x <= 0 (cpu-matvec-kernels.h: exp_poly), 2^n built in the exponent bits.
inline __m256 exp_nonpositive(__m256 x) {
    const __m256 normal = _mm256_cmp_ps(x, _mm256_set1_ps(exp_min), _CMP_GE_OQ);
    x = _mm256_max_ps(x, _mm256_set1_ps(exp_min));
    const __m256 n =
        _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(exp_log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(exp_ln2_hi), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(exp_ln2_lo), r);
    __m256 p = _mm256_set1_ps(exp_poly[0]);
    for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(exp_poly[i]));
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i pow2n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(normal, _mm256_mul_ps(p, _mm256_castsi256_ps(pow2n)));
}

void gelu_erf(float* y, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    const int64_t n8 = n / 8 * 8;
    for (int64_t i = 0; i < n8; i += 8) {
        const __m256 v = _mm256_loadu_ps(y + i);
        const __m256 x = _mm256_mul_ps(v, _mm256_set1_ps(gelu_sqrt_2_inv));
        const __m256 a = _mm256_andnot_ps(sign, x);
        const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(erf_p), a, one));
        __m256 poly = _mm256_set1_ps(erf_poly[4]);
        for (int k = 3; k >= 0; --k) poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(erf_poly[k]));
        const __m256 tail = _mm256_mul_ps(_mm256_mul_ps(poly, t),
                                          exp_nonpositive(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), a)));
        const __m256 erf = _mm256_or_ps(_mm256_sub_ps(one, tail), _mm256_and_ps(sign, x));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(one, erf)));
    }
    for (int64_t i = n8; i < n; ++i) y[i] = 0.5f * y[i] * (1.0f + std::erf(y[i] * gelu_sqrt_2_inv));
}

void elu(const float* src, float* dst, int64_t n) {
    const __m256 zero = _mm256_setzero_ps(), magic = _mm256_set1_ps(elu_round_magic);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(src + i);
        const __m256 x = _mm256_max_ps(_mm256_min_ps(v, zero), _mm256_set1_ps(elu_min_x));
        const __m256 k = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(elu_log2e)), magic), magic);
        const __m256 r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(k, _mm256_set1_ps(elu_ln2_hi))),
                                       _mm256_mul_ps(k, _mm256_set1_ps(elu_ln2_lo)));
        __m256 p = _mm256_set1_ps(elu_taylor[0]);
        for (int j = 1; j < 6; ++j) p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(elu_taylor[j]));
        p = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r);
        const __m256 scale = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(k), _mm256_set1_epi32(127)), 23));
        const __m256 neg = _mm256_add_ps(_mm256_mul_ps(scale, p), _mm256_sub_ps(scale, _mm256_set1_ps(1.0f)));
        _mm256_storeu_ps(dst + i, _mm256_blendv_ps(neg, v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ)));
    }
    for (; i < n; ++i) dst[i] = elu_scalar(src[i]);
}

float softmax(float* x, const float* mask, float scale, int64_t n) {
    const int64_t n8 = n / 8 * 8;
    const __m256 scale8 = _mm256_set1_ps(scale);
    __m256 max8 = _mm256_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n8; j += 8) {
        const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), scale8, _mm256_loadu_ps(mask + j));
        _mm256_storeu_ps(x + j, v);
        max8 = _mm256_max_ps(max8, v);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(max8), _mm256_extractf128_ps(max8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    float max = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    for (int64_t j = n8; j < n; ++j) {
        x[j] = x[j] * scale + mask[j];
        max = std::max(max, x[j]);
    }
    const __m256 max_all = _mm256_set1_ps(max);
    __m256 sum8 = _mm256_setzero_ps();
    for (int64_t j = 0; j < n8; j += 8) {
        const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(x + j), max_all));
        _mm256_storeu_ps(x + j, e);
        sum8 = _mm256_add_ps(sum8, e);
    }
    float sum = hsum(sum8);
    for (int64_t j = n8; j < n; ++j) {
        x[j] = std::exp(x[j] - max);
        sum += x[j];
    }
    return sum;
}

// conv_frames for up to 6 frames (TB) and 2 vectors of 8 output channels (V), the last one's lanes from `last`
// when `partial`.
template <int TB, int V, bool partial>
void conv_block(const float* w, int64_t w_step, const float* bias, int64_t n_k, const float* x, int64_t x_step,
                float* y, int64_t y_step, __m256i last) {
    const auto load = [&](const float* p, int v) {
        return partial && v == V - 1 ? _mm256_maskload_ps(p, last) : _mm256_loadu_ps(p);
    };
    __m256 acc[TB][V];
#pragma GCC unroll 6
    for (int t = 0; t < TB; ++t) {
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) acc[t][v] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < n_k; ++k) {
        __m256 wv[V];
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) wv[v] = load(w + k * w_step + 8 * v, v);
#pragma GCC unroll 6
        for (int t = 0; t < TB; ++t) {
            const __m256 xb = _mm256_broadcast_ss(x + t * x_step + k);
#pragma GCC unroll 2
            for (int v = 0; v < V; ++v) acc[t][v] = _mm256_fmadd_ps(wv[v], xb, acc[t][v]);
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < TB; ++t) {
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) {
            const __m256 r = _mm256_add_ps(acc[t][v], load(bias + 8 * v, v));
            if (partial && v == V - 1) {
                _mm256_maskstore_ps(y + t * y_step + 8 * v, last, r);
            } else {
                _mm256_storeu_ps(y + t * y_step + 8 * v, r);
            }
        }
    }
}

template <int V, bool partial>
void conv_frames_v(const float* w, int64_t w_step, const float* bias, int64_t n_k, const float* x, int64_t x_step,
                   float* y, int64_t y_step, int64_t n_t, __m256i last) {
    int64_t t = 0;
    for (; t + 6 <= n_t; t += 6) {
        conv_block<6, V, partial>(w, w_step, bias, n_k, x + t * x_step, x_step, y + t * y_step, y_step, last);
    }
    const float* xt = x + t * x_step;
    float* yt = y + t * y_step;
    switch (n_t - t) {
        case 5:
            return conv_block<5, V, partial>(w, w_step, bias, n_k, xt, x_step, yt, y_step, last);
        case 4:
            return conv_block<4, V, partial>(w, w_step, bias, n_k, xt, x_step, yt, y_step, last);
        case 3:
            return conv_block<3, V, partial>(w, w_step, bias, n_k, xt, x_step, yt, y_step, last);
        case 2:
            return conv_block<2, V, partial>(w, w_step, bias, n_k, xt, x_step, yt, y_step, last);
        case 1:
            return conv_block<1, V, partial>(w, w_step, bias, n_k, xt, x_step, yt, y_step, last);
        default:
            return;
    }
}

void conv_frames(const float* w, int64_t w_step, const float* bias, int64_t n_o, int64_t n_k, const float* x,
                 int64_t x_step, float* y, int64_t y_step, int64_t n_t) {
    for (int64_t o = 0; o < n_o; o += 16) {
        const int64_t n = std::min<int64_t>(16, n_o - o);
        const int tail = static_cast<int>(n % 8);
        const __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const float *wo = w + o, *bo = bias + o;
        float* yo = y + o;
        if (n == 16) {
            conv_frames_v<2, false>(wo, w_step, bo, n_k, x, x_step, yo, y_step, n_t, last);
        } else if (n == 8) {
            conv_frames_v<1, false>(wo, w_step, bo, n_k, x, x_step, yo, y_step, n_t, last);
        } else if (n > 8) {
            conv_frames_v<2, true>(wo, w_step, bo, n_k, x, x_step, yo, y_step, n_t, last);
        } else {
            conv_frames_v<1, true>(wo, w_step, bo, n_k, x, x_step, yo, y_step, n_t, last);
        }
    }
}

}  // namespace

kernel_set avx2_kernels() {
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
