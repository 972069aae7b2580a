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
    const int64_t d = q->ne[0], n_head = q->ne[1], R = q->ne[2], n_kv = mask->ne[0];
    const int64_t pairs = R * n_head;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const float* mask_values = static_cast<const float*>(mask->data);
    // The cache's element type picks the kernel (f32 or f16 rows against the f32 query / probabilities).
    const auto product = cache_k->type == GGML_TYPE_F16 ? kernels.f16 : kernels.f32;
    thread_local std::vector<float> probs;
    probs.resize(static_cast<size_t>(n_kv));
    for (int64_t p = pairs * ith / nth; p < pairs * (ith + 1) / nth; ++p) {
        const int64_t r = p / n_head, h = p % n_head;
        // Scores: the cached keys of head h as the rows of a matrix, times the head's query.
        const matvec::weights keys{
            static_cast<const uint8_t*>(cache_k->data) + r * cache_k->nb[2] + h * d * cache_k->nb[0], cache_k->nb[1],
            d};
        matvec::columns query{};
        query.n = 1;
        query.data = static_cast<const uint8_t*>(q->data) + r * q->nb[2] + h * q->nb[1];
        query.col_bytes = static_cast<size_t>(d) * 4;
        product(keys, query, matvec::output{probs.data(), static_cast<size_t>(n_kv)}, 0, n_kv);
        float max = -INFINITY;
        for (int64_t j = 0; j < n_kv; ++j) {
            probs[j] = probs[j] * scale + mask_values[j];
            max = std::max(max, probs[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < n_kv; ++j) {
            probs[j] = std::exp(probs[j] - max);
            sum += probs[j];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t j = 0; j < n_kv; ++j) probs[j] *= inv;
        // Values: head h's channels of the transposed cache as rows of n_kv positions, times the probabilities.
        const matvec::weights values{
            static_cast<const uint8_t*>(cache_v->data) + r * cache_v->nb[2] + h * d * cache_v->nb[1], cache_v->nb[1],
            n_kv};
        matvec::columns weights_column{};
        weights_column.n = 1;
        weights_column.data = reinterpret_cast<const uint8_t*>(probs.data());
        weights_column.col_bytes = static_cast<size_t>(n_kv) * 4;
        float* out = reinterpret_cast<float*>(static_cast<uint8_t*>(dst->data) + r * dst->nb[2]) + h * d;
        product(values, weights_column, matvec::output{out, static_cast<size_t>(d)}, 0, d);
    }
}

}  // namespace

ggml_tensor* cpu_step_attention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* cache_k, ggml_tensor* cache_v,
                                ggml_tensor* mask) {
    const matvec::kernel_set* kernels = matvec::kernel_set_of(cpu_matvec_kernels());
    const int64_t H = q->ne[0] * q->ne[1];
    const bool shapes_ok = q->type == GGML_TYPE_F32 && ggml_is_contiguous(q) && q->ne[3] == 1 &&
                           (cache_k->type == GGML_TYPE_F32 || cache_k->type == GGML_TYPE_F16) &&
                           cache_v->type == cache_k->type && mask->type == GGML_TYPE_F32 && ggml_is_contiguous(mask) &&
                           mask->ne[1] == 1 && cache_k->ne[0] == H && cache_k->ne[2] == q->ne[2] &&
                           cache_v->ne[1] == H && cache_v->ne[2] == q->ne[2] && mask->ne[0] <= cache_k->ne[1] &&
                           mask->ne[0] <= cache_v->ne[0];
    if (!kernels || !shapes_ok) {
        throw error(error_code::backend, "cpu_step_attention: shapes or kernels it does not take");
    }
    ggml_tensor* args[] = {q, cache_k, cache_v, mask};
    return ggml_custom_4d(ctx, GGML_TYPE_F32, H, 1, q->ne[2], 1, args, 4, attention_op, GGML_N_TASKS_MAX,
                          const_cast<matvec::kernel_set*>(kernels));
}

}  // namespace mg
