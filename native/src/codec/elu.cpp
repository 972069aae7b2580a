// ELU for the EnCodec decoder (see elu.h): ggml_elu, or on the CPU a custom op with a branch-free expm1.
#include "codec/elu.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define MG_ELU_SSE2 1
#endif

namespace mg {

// ELU through expm1 for x <= 0: x = n ln2 + r with |r| <= ln2 / 2, expm1(x) = 2^n expm1(r) + (2^n - 1), expm1(r)
// by its Taylor series to degree 7 (truncation below 2e-8 relative for |r| <= 0.347). Below -30 the result rounds
// to -1 in float anyway, which also keeps 2^n a normal number. The scalar and the SSE2 version do the same
// operations in the same order, so every element gets the same value whichever path it takes.
constexpr float min_x = -30.0f;
constexpr float log2e = 1.44269504f;
constexpr float round_magic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
constexpr float ln2_hi = 0.693145752f;      // few mantissa bits: n * ln2_hi is exact
constexpr float ln2_lo = 1.42860677e-6f;
constexpr float taylor[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f};

static inline float elu_scalar(float v) {
    const float x = std::max(std::min(v, 0.0f), min_x);
    const float n = (x * log2e + round_magic) - round_magic;
    const float r = (x - n * ln2_hi) - n * ln2_lo;
    float p = taylor[0];
    for (int i = 1; i < 6; ++i) p = p * r + taylor[i];
    p = p * r * r + r;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return v > 0.0f ? v : scale * p + (scale - 1.0f);
}

#ifdef MG_ELU_SSE2
static inline __m128 elu_sse2(__m128 v) {
    const __m128 x = _mm_max_ps(_mm_min_ps(v, _mm_setzero_ps()), _mm_set1_ps(min_x));
    const __m128 magic = _mm_set1_ps(round_magic);
    const __m128 n = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(log2e)), magic), magic);
    const __m128 r = _mm_sub_ps(_mm_sub_ps(x, _mm_mul_ps(n, _mm_set1_ps(ln2_hi))), _mm_mul_ps(n, _mm_set1_ps(ln2_lo)));
    __m128 p = _mm_set1_ps(taylor[0]);
    for (int i = 1; i < 6; ++i) p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(taylor[i]));
    p = _mm_add_ps(_mm_mul_ps(_mm_mul_ps(p, r), r), r);
    const __m128 scale = _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(_mm_cvttps_epi32(n), _mm_set1_epi32(127)), 23));
    const __m128 neg = _mm_add_ps(_mm_mul_ps(scale, p), _mm_sub_ps(scale, _mm_set1_ps(1.0f)));
    const __m128 positive = _mm_cmpgt_ps(v, _mm_setzero_ps());
    return _mm_or_ps(_mm_and_ps(positive, v), _mm_andnot_ps(positive, neg));
}
#endif

void encodec_elu_values(const float* src, float* dst, int64_t n) {
    int64_t i = 0;
#ifdef MG_ELU_SSE2
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(dst + i, elu_sse2(_mm_loadu_ps(src + i)));
#endif
    for (; i < n; ++i) dst[i] = elu_scalar(src[i]);
}

static void elu_rows(ggml_tensor* dst, const ggml_tensor* a, int ith, int nth, void*) {
    const int64_t n = ggml_nelements(dst);
    const int64_t per_thread = (n + nth - 1) / nth;
    const int64_t begin = std::min(n, per_thread * ith);
    const int64_t end = std::min(n, begin + per_thread);
    encodec_elu_values(static_cast<const float*>(a->data) + begin, static_cast<float*>(dst->data) + begin, end - begin);
}

ggml_tensor* encodec_elu(ggml_context* ctx, ggml_tensor* x, bool cpu) {
    if (!cpu) return ggml_elu(ctx, x);
    return ggml_map_custom1(ctx, ggml_is_contiguous(x) ? x : ggml_cont(ctx, x), elu_rows, GGML_N_TASKS_MAX, nullptr);
}

}  // namespace mg
