// One-query attention over the KV cache on the CPU (see cpu-attention.h).
#include "runtime/cpu-attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/cpu-matvec-kernels.h"
#include "runtime/cpu-matvec.h"
#include "runtime/error.h"

namespace mg {

namespace {

void attention_op(ggml_tensor* dst, int ith, int nth, void* userdata) {
    const auto& kernels = *static_cast<const matvec::kernel_set*>(userdata);
    const ggml_tensor* q = dst->src[0];
    const ggml_tensor* cache_k = dst->src[1];
    const ggml_tensor* cache_v = dst->src[2];
    const ggml_tensor* mask = dst->src[3];
    const int64_t d = q->ne[0], n_head = q->ne[1], R = q->ne[2];
    const int64_t pairs = R * n_head;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    // The cache's element type picks the kernels (f32 or f16 rows against the f32 query / probabilities).
    const bool half = cache_k->type == GGML_TYPE_F16;
    const auto product = half ? kernels.f16 : kernels.f32;
    const auto weighted_sum = half ? kernels.f16_weighted_sum : kernels.f32_weighted_sum;
    thread_local std::vector<float> probs;
    probs.resize(static_cast<size_t>(mask->ne[0]));
    for (int64_t p = pairs * ith / nth; p < pairs * (ith + 1) / nth; ++p) {
        const int64_t r = p / n_head, h = p % n_head;
        // One mask for every row, or one per row. The replayable step's mask covers a padded length; the positions
        // past the last written one are -inf.
        const float* mask_values = reinterpret_cast<const float*>(static_cast<const uint8_t*>(mask->data) +
                                                                  (mask->ne[3] > 1 ? r * mask->nb[3] : 0));
        int64_t n_kv = mask->ne[0];
        while (n_kv > 1 && mask_values[n_kv - 1] == -INFINITY) --n_kv;
        // Scores: head h's cached keys, one row per position, times the head's query.
        const matvec::weights keys{static_cast<const uint8_t*>(cache_k->data) + r * cache_k->nb[3] + h * cache_k->nb[2],
                                   cache_k->nb[1], d};
        matvec::columns query{};
        query.n = 1;
        query.data = static_cast<const uint8_t*>(q->data) + r * q->nb[2] + h * q->nb[1];
        query.col_bytes = static_cast<size_t>(d) * 4;
        product(keys, query, matvec::output{probs.data(), static_cast<size_t>(n_kv)}, 0, n_kv);
        const float inv = 1.0f / kernels.softmax(probs.data(), mask_values, scale, n_kv);
        // Values: head h's cached values, one row per position, weighted by the probabilities and summed, then
        // divided by the probabilities' sum.
        const matvec::weights values{
            static_cast<const uint8_t*>(cache_v->data) + r * cache_v->nb[3] + h * cache_v->nb[2], cache_v->nb[1], d};
        float* out = reinterpret_cast<float*>(static_cast<uint8_t*>(dst->data) + r * dst->nb[2]) + h * d;
        weighted_sum(values, probs.data(), 0, n_kv, out);
        for (int64_t i = 0; i < d; ++i) out[i] *= inv;
    }
}

}  // namespace

ggml_tensor* cpu_step_attention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* cache_k, ggml_tensor* cache_v,
                                ggml_tensor* mask) {
    const matvec::kernel_set* kernels = matvec::kernel_set_of(cpu_matvec_kernels());
    const int64_t H = q->ne[0] * q->ne[1];
    const auto is_cache = [&](const ggml_tensor* t) {
        return t->ne[0] == q->ne[0] && t->ne[2] == q->ne[1] && t->ne[3] == q->ne[2] &&
               t->nb[0] == ggml_type_size(t->type) && t->nb[1] == t->ne[0] * t->nb[0] && mask->ne[0] <= t->ne[1];
    };
    const bool shapes_ok = q->type == GGML_TYPE_F32 && ggml_is_contiguous(q) && q->ne[3] == 1 &&
                           (cache_k->type == GGML_TYPE_F32 || cache_k->type == GGML_TYPE_F16) &&
                           cache_v->type == cache_k->type && mask->type == GGML_TYPE_F32 && ggml_is_contiguous(mask) &&
                           mask->ne[1] == 1 && mask->ne[2] == 1 && (mask->ne[3] == 1 || mask->ne[3] == q->ne[2]) &&
                           is_cache(cache_k) && is_cache(cache_v);
    if (!kernels || !shapes_ok) {
        throw error(error_code::backend, "cpu_step_attention: shapes or kernels it does not take");
    }
    ggml_tensor* args[] = {q, cache_k, cache_v, mask};
    return ggml_custom_4d(ctx, GGML_TYPE_F32, H, 1, q->ne[2], 1, args, 4, attention_op, GGML_N_TASKS_MAX,
                          const_cast<matvec::kernel_set*>(kernels));
}

}  // namespace mg
