// The T5 encoder graph (see t5-encoder.h).
#include "text/t5-encoder.h"

#include <cmath>
#include <cstdlib>

namespace mg {

int32_t t5_relative_bucket(int32_t rel, int32_t n_buckets, int32_t max_distance) {
    const int32_t half = n_buckets / 2;
    const int32_t bucket = rel > 0 ? half : 0;
    const int64_t a = std::abs(static_cast<int64_t>(rel));
    const int32_t max_exact = half / 2;
    if (a < max_exact) return bucket + static_cast<int32_t>(a);
    // HF evaluates this in float32 (the divisor is a Python double rounded to float) and truncates toward zero.
    const float scaled = std::log(static_cast<float>(a) / static_cast<float>(max_exact)) /
                         static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact)) *
                         static_cast<float>(half - max_exact);
    // min(max_exact + trunc(scaled), half - 1), written so that a non-finite value is never cast to an integer.
    const int32_t last = half - 1;
    if (!(scaled < static_cast<float>(last - max_exact))) return bucket + last;
    return bucket + max_exact + static_cast<int32_t>(scaled);
}

size_t t5_graph_nodes(const t5_hparams& hp) {
    // About 35 nodes per block (views included) and 15 around them; doubled for headroom.
    return 64 + 80 * static_cast<size_t>(hp.n_layer);
}

// w * x / sqrt(mean(x^2) + eps) over the feature axis (T5LayerNorm: no mean subtraction, no bias).
static ggml_tensor* rms_norm(ggml_context* ctx, ggml_tensor* x, ggml_tensor* w, float eps) {
    return ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), w);
}

// Self-attention of one block on normed states h [D, L*B]; kq_bias [L, L, H, B] holds position bias + padding mask.
static ggml_tensor* self_attention(ggml_context* ctx, const t5_layer& layer, const t5_hparams& hp, ggml_tensor* h,
                                   ggml_tensor* kq_bias, int64_t n_tokens, int64_t n_batch, int il) {
    const int64_t d_kv = hp.n_head_dim, n_head = hp.n_head;
    // [d_kv, H, L, B] -> [d_kv, L, H, B]
    auto heads = [&](ggml_tensor* w) {
        ggml_tensor* t = ggml_reshape_4d(ctx, ggml_mul_mat(ctx, w, h), d_kv, n_head, n_tokens, n_batch);
        return ggml_permute(ctx, t, 0, 2, 1, 3);
    };
    ggml_tensor* q = heads(layer.attn_q);
    ggml_tensor* k = heads(layer.attn_k);
    // [d_kv, H, L, B] -> [L, d_kv, H, B], so that the weighted sum over keys is a plain mul_mat.
    ggml_tensor* v_t = ggml_cont(
        ctx,
        ggml_permute(ctx, ggml_reshape_4d(ctx, ggml_mul_mat(ctx, layer.attn_v, h), d_kv, n_head, n_tokens, n_batch), 1,
                     2, 0, 3));

    // T5 folds the 1/sqrt(d_kv) scaling into its initialisation, so the scores are not scaled here.
    ggml_tensor* kq = ggml_mul_mat(ctx, k, q);  // [L_k, L_q, H, B]
    kq = ggml_add(ctx, kq, kq_bias);
    ggml_format_name(kq, "t5_kq_%d", il);
    kq = ggml_soft_max(ctx, kq);

    ggml_tensor* kqv = ggml_mul_mat(ctx, v_t, kq);  // [d_kv, L_q, H, B]
    kqv = ggml_cont(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3));
    kqv = ggml_reshape_2d(ctx, kqv, d_kv * n_head, n_tokens * n_batch);
    ggml_format_name(kqv, "t5_kqv_%d", il);
    return ggml_mul_mat(ctx, layer.attn_o, kqv);
}

static ggml_tensor* feed_forward(ggml_context* ctx, const t5_layer& layer, t5_ffn_act act, ggml_tensor* h) {
    ggml_tensor* up = ggml_mul_mat(ctx, layer.ffn_up, h);
    if (act == t5_ffn_act::gated_gelu) {
        // HF maps gated-gelu to gelu_new, the tanh approximation, which is what ggml_gelu computes.
        up = ggml_mul(ctx, ggml_gelu(ctx, ggml_mul_mat(ctx, layer.ffn_gate, h)), up);
    } else {
        up = ggml_relu(ctx, up);
    }
    return ggml_mul_mat(ctx, layer.ffn_down, up);
}

ggml_tensor* build_t5_graph(ggml_context* ctx, const model& m, int64_t n_tokens, int64_t n_batch,
                            t5_graph_inputs& inputs) {
    const t5_hparams& hp = m.hparams.t5;
    const t5_encoder& t5 = m.t5;

    inputs.ids = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens * n_batch);
    ggml_set_name(inputs.ids, "t5_ids");
    ggml_set_input(inputs.ids);
    inputs.buckets = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens * n_tokens);
    ggml_set_name(inputs.buckets, "t5_buckets");
    ggml_set_input(inputs.buckets);
    inputs.kq_mask = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, n_tokens, 1, 1, n_batch);
    ggml_set_name(inputs.kq_mask, "t5_kq_mask");
    ggml_set_input(inputs.kq_mask);

    // Position bias from block 0's table, shared by every block: rows of the [H, buckets] table -> [L_k, L_q, H].
    ggml_tensor* pos = ggml_get_rows(ctx, t5.rel_bias, inputs.buckets);
    pos = ggml_reshape_3d(ctx, pos, hp.n_head, n_tokens, n_tokens);
    pos = ggml_cont(ctx, ggml_permute(ctx, pos, 2, 0, 1, 3));
    ggml_set_name(pos, "t5_position_bias");
    // HF adds the padding mask to the position bias once, then adds that sum to every block's scores.
    ggml_tensor* kq_bias =
        ggml_add(ctx, ggml_repeat_4d(ctx, pos, n_tokens, n_tokens, hp.n_head, n_batch), inputs.kq_mask);
    ggml_set_name(kq_bias, "t5_kq_bias");

    // No sqrt(d_model) scaling of the embedding in T5.
    ggml_tensor* x = ggml_get_rows(ctx, t5.token_embd, inputs.ids);  // [D, L*B]
    ggml_set_name(x, "t5_embd");

    for (uint32_t il = 0; il < hp.n_layer; ++il) {
        const t5_layer& layer = t5.layers[il];
        ggml_tensor* h = rms_norm(ctx, x, layer.attn_norm, hp.eps);
        x = ggml_add(ctx, x, self_attention(ctx, layer, hp, h, kq_bias, n_tokens, n_batch, static_cast<int>(il)));
        ggml_format_name(x, "t5_attn_out_%u", il);

        h = rms_norm(ctx, x, layer.ffn_norm, hp.eps);
        x = ggml_add(ctx, x, feed_forward(ctx, layer, hp.ffn_act, h));
        ggml_format_name(x, "t5_block_out_%u", il);
    }

    x = rms_norm(ctx, x, t5.output_norm, hp.eps);
    ggml_set_name(x, "t5_out");
    ggml_set_output(x);
    return x;
}

}  // namespace mg
