// The MusicGen LM's graphs (see musicgen-lm.h): embeddings, decoder blocks with KV cache, per-codebook heads.
#include "lm/musicgen-lm.h"

#include <ggml-backend.h>

#include <cmath>
#include <string>
#include <vector>

#include "runtime/cpu-attention.h"
#include "runtime/cpu-matvec.h"
#include "runtime/error.h"
#include "runtime/zeroed-host-buffer.h"

namespace mg {

lm_cache new_lm_cache(const model& m, int32_t n_rows, int32_t n_cond, int32_t n_ctx, int32_t n_text) {
    const lm_hparams& hp = m.hparams.lm;
    const int64_t H = hp.n_embd;
    lm_cache cache;
    cache.n_rows = n_rows;
    cache.n_cond = n_cond;
    cache.n_ctx = n_ctx;
    cache.n_text = n_text;

    const bool cross = hp.variant == lm_variant::text;
    const size_t n_tensors = hp.n_layer * (cross ? 4 : 2);
    ggml_init_params params = {ggml_tensor_overhead() * n_tensors, nullptr, /*no_alloc=*/true};
    cache.ctx.reset(ggml_init(params));
    if (!cache.ctx) throw error(error_code::backend, "ggml_init failed for the LM cache");
    ggml_context* ctx = cache.ctx.get();

    // f32 so incremental decoding reproduces a full teacher-forced pass to float32 rounding, or f16 (model::
    // lm_cache_type), which halves what a step reads from the cache; the cross-attention K/V (a few text positions)
    // stay f32.
    const ggml_type type = m.lm_cache_type;
    const bool on_cpu =
        ggml_backend_dev_type(ggml_backend_get_device(m.backends.main_backend())) == GGML_BACKEND_DEVICE_TYPE_CPU;
    cache.by_head = on_cpu;
    const int64_t n_head = hp.n_head, d = H / n_head;
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        if (cache.by_head) {
            cache.k.push_back(ggml_new_tensor_4d(ctx, type, d, n_ctx, n_head, n_rows));
            cache.v.push_back(ggml_new_tensor_4d(ctx, type, d, n_ctx, n_head, n_rows));
        } else {
            cache.k.push_back(ggml_new_tensor_3d(ctx, type, H, n_ctx, n_rows));
            cache.v.push_back(ggml_new_tensor_3d(ctx, type, n_ctx, H, n_rows));
        }
        ggml_format_name(cache.k.back(), "cache_k_%u", l);
        ggml_format_name(cache.v.back(), "cache_v_%u", l);
        if (cross && cache.by_head) {
            cache.cross_k.push_back(ggml_new_tensor_4d(ctx, GGML_TYPE_F32, d, n_text, n_head, n_cond));
            cache.cross_v.push_back(ggml_new_tensor_4d(ctx, GGML_TYPE_F32, d, n_text, n_head, n_cond));
        } else if (cross) {
            cache.cross_k.push_back(ggml_new_tensor_3d(ctx, GGML_TYPE_F32, H, n_text, n_cond));
            cache.cross_v.push_back(ggml_new_tensor_3d(ctx, GGML_TYPE_F32, n_text, H, n_cond));
        }
        if (cross) {
            ggml_format_name(cache.cross_k.back(), "cache_cross_k_%u", l);
            ggml_format_name(cache.cross_v.back(), "cache_cross_v_%u", l);
        }
    }
    // The replayable step attends over positions not written yet with weight exactly 0, which is only harmless
    // if what they hold is finite (0 * NaN is NaN): they start as zeros. On the CPU, pages the kernel zero-fills on
    // first write (runtime/zeroed-host-buffer.h) rather than a clear of the whole cache before the first step.
    if (on_cpu) {
        cache.buffer.reset(alloc_zeroed_cpu_tensors(ctx, cache.memory));
    } else {
        cache.buffer.reset(ggml_backend_alloc_ctx_tensors(ctx, m.backends.main_backend()));
        if (cache.buffer) ggml_backend_buffer_clear(cache.buffer.get(), 0);
    }
    if (!cache.buffer) {
        const double bytes = 2.0 * hp.n_layer * H *
                             (double(n_ctx) * n_rows * ggml_type_size(type) + double(n_text) * n_cond * sizeof(float));
        const double mib = bytes / (1024.0 * 1024.0);
        throw error(error_code::backend,
                    "could not allocate the LM cache (" + std::to_string(mib) + " MiB) on " + m.backends.name());
    }
    return cache;
}

size_t lm_graph_nodes(const model& m) {
    // ~40 nodes per block plus embeddings and heads; generous because views and reshapes count as tensors
    // in the graph context too.
    return 256 + 128 * size_t{m.hparams.lm.n_layer} + 16 * size_t{m.hparams.lm.n_codebooks};
}

static ggml_tensor* layer_norm(ggml_context* ctx, ggml_tensor* x, ggml_tensor* w, ggml_tensor* b, float eps) {
    x = ggml_norm(ctx, x, eps);
    return ggml_add(ctx, ggml_mul(ctx, x, w), b);
}

// Multi-head attention of q [H, n_q, n_seq] against keys [d, n_kv, n_head, n_seq] and values transposed
// [n_kv, d, n_head, n_seq] (views of a cache: attention_keys / attention_values). Returns [H, n_q, n_seq].
// `contiguous_k`: copy the keys to a contiguous tensor first (backend_set::contiguous_attention_keys says where).
static ggml_tensor* attention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* k, ggml_tensor* v, ggml_tensor* mask,
                              int64_t n_head, bool contiguous_k) {
    const int64_t H = q->ne[0], n_q = q->ne[1], n_seq = q->ne[2], d = H / n_head;
    q = ggml_permute(ctx, ggml_reshape_4d(ctx, q, d, n_head, n_q, n_seq), 0, 2, 1, 3);  // [d, n_q, n_head, n_seq]
    if (contiguous_k) k = ggml_cont(ctx, k);
    ggml_tensor* kq = ggml_mul_mat(ctx, k, q);  // [n_kv, n_q, n_head, n_seq]
    // HF scales q by head_dim^-0.5 before the product; scaling the product instead differs by rounding only.
    kq = ggml_soft_max_ext(ctx, kq, mask, 1.0f / std::sqrt(static_cast<float>(d)), 0.0f);
    ggml_tensor* kqv = ggml_mul_mat(ctx, v, kq);  // [d, n_q, n_head, n_seq]
    return ggml_cont_3d(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3), H, n_q, n_seq);
}

// The first n_kv cached keys of every head as attention() takes them, [d, n_kv, n_head, n_seq]: a view of a by-head
// cache, the permuted view of a [H, n_ctx, n_seq] one.
static ggml_tensor* attention_keys(ggml_context* ctx, ggml_tensor* k, int64_t n_head, int64_t n_kv, bool by_head) {
    if (by_head) return ggml_view_4d(ctx, k, k->ne[0], n_kv, k->ne[2], k->ne[3], k->nb[1], k->nb[2], k->nb[3], 0);
    const int64_t d = k->ne[0] / n_head;
    return ggml_permute(ctx, ggml_view_4d(ctx, k, d, n_head, n_kv, k->ne[2], d * k->nb[0], k->nb[1], k->nb[2], 0), 0, 2,
                        1, 3);
}

// The first n_kv cached values of every head transposed, [n_kv, d, n_head, n_seq]: a copy from a by-head cache (a
// prompt's pass only; the CPU step reads the cache itself), a view of a transposed [n_ctx, H, n_seq] one.
static ggml_tensor* attention_values(ggml_context* ctx, ggml_tensor* v, int64_t n_head, int64_t n_kv, bool by_head) {
    if (by_head) {
        return ggml_cont(ctx, ggml_transpose(ctx, ggml_view_4d(ctx, v, v->ne[0], n_kv, v->ne[2], v->ne[3], v->nb[1],
                                                               v->nb[2], v->nb[3], 0)));
    }
    const int64_t d = v->ne[1] / n_head;
    return ggml_view_4d(ctx, v, n_kv, d, n_head, v->ne[2], v->nb[1], d * v->nb[1], v->nb[2], 0);
}

lm_cross_kv_graph build_lm_cross_kv(ggml_context* ctx, const model& m, const lm_cache& cache) {
    const lm_hparams& hp = m.hparams.lm;
    const int64_t n_head = hp.n_head, d = hp.n_embd / n_head;
    lm_cross_kv_graph out;
    out.graph = ggml_new_graph_custom(ctx, lm_graph_nodes(m), false);
    out.states = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, hp.n_embd, cache.n_text, cache.n_cond);
    ggml_set_name(out.states, "text_states");
    ggml_set_input(out.states);
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        const lm_layer& layer = m.lm.layers[l];
        ggml_tensor* k = ggml_mul_mat(ctx, layer.cross_attn_k, out.states);
        ggml_tensor* v = ggml_mul_mat(ctx, layer.cross_attn_v, out.states);
        if (cache.by_head) {
            // [H, n_text, n_cond] as [d, n_head, n_text, n_cond], permuted to the cache's [d, n_text, n_head, n_cond].
            const auto heads = [&](ggml_tensor* t) {
                return ggml_permute(ctx, ggml_reshape_4d(ctx, t, d, n_head, cache.n_text, cache.n_cond), 0, 2, 1, 3);
            };
            ggml_build_forward_expand(out.graph, ggml_cpy(ctx, heads(k), cache.cross_k[l]));
            ggml_build_forward_expand(out.graph, ggml_cpy(ctx, heads(v), cache.cross_v[l]));
        } else {
            ggml_build_forward_expand(out.graph, ggml_cpy(ctx, k, cache.cross_k[l]));
            ggml_build_forward_expand(out.graph, ggml_cpy(ctx, ggml_transpose(ctx, v), cache.cross_v[l]));
        }
    }
    return out;
}

lm_forward_graph build_lm_forward(ggml_context* ctx, const model& m, const lm_cache& cache, const lm_step& step) {
    const lm_hparams& hp = m.hparams.lm;
    const int64_t H = hp.n_embd, n_head = hp.n_head, d = H / n_head, K = hp.n_codebooks, V = hp.codebook_size;
    // T counts every new position (prefix + codes), T_codes the code positions whose outputs are returned.
    const int64_t T_codes = step.n_tokens, P = step.n_prefix, T = P + T_codes;
    const int64_t R = cache.n_rows, C = cache.n_cond;
    const bool replayable = step.n_kv_pad > 0;
    const bool contiguous_k = m.backends.contiguous_attention_keys();
    // The weight products of a step (a few columns) through our CPU kernels when the graph runs on the CPU.
    const bool cpu = !m.backends.gpu;
    const auto linear = [&](ggml_tensor* w, ggml_tensor* in) { return project(ctx, w, in, cpu); };
    const bool cpu_attention = cpu && cpu_matvec_kernels() != matvec_kernels::ggml;
    // A layer norm and the products that read it, GELU after them if `gelu`: [n_out, T, rows] per matrix. On the CPU
    // one op (runtime/cpu-matvec.h: cpu_matvec_fused), elsewhere ggml's nodes.
    const auto norm_linear = [&](const std::vector<ggml_tensor*>& ws, ggml_tensor* in, ggml_tensor* norm_w,
                                 ggml_tensor* norm_b, bool gelu) {
        std::vector<ggml_tensor*> out;
        if (cpu_matvec_fuses(cpu, ws, in)) {
            matvec_fusion fusion;
            fusion.norm_w = norm_w;
            fusion.norm_b = norm_b;
            fusion.eps = hp.eps;
            fusion.gelu = gelu;
            ggml_tensor* all = cpu_matvec_fused(ctx, ws, in, fusion);
            const int64_t n_out = ws[0]->ne[1];
            for (size_t i = 0; i < ws.size(); ++i) {
                out.push_back(ggml_view_3d(ctx, all, n_out, in->ne[1], in->ne[2], all->nb[1], all->nb[1] * in->ne[1],
                                           i * all->nb[2]));
            }
            return out;
        }
        ggml_tensor* cur = layer_norm(ctx, in, norm_w, norm_b, hp.eps);
        for (ggml_tensor* w : ws) out.push_back(gelu ? ggml_gelu_erf(ctx, linear(w, cur)) : linear(w, cur));
        return out;
    };
    // residual + w times in, the product zero-padded to the residual's rows: one op on the CPU.
    const auto linear_add = [&](ggml_tensor* w, ggml_tensor* in, ggml_tensor* residual) {
        if (cpu_matvec_fuses(cpu, {w}, in) && ggml_is_contiguous(residual)) {
            matvec_fusion fusion;
            fusion.residual = residual;
            return cpu_matvec_fused(ctx, {w}, in, fusion);
        }
        ggml_tensor* cur = linear(w, in);
        if (cur->ne[2] < residual->ne[2])
            cur = ggml_pad(ctx, cur, 0, 0, static_cast<int>(residual->ne[2] - cur->ne[2]), 0);
        return ggml_add(ctx, residual, cur);
    };
    if (replayable && (T_codes != 1 || P != 0 || step.all_logits || step.n_kv_pad > cache.n_ctx)) {
        throw error(error_code::invalid_argument, "a replayable LM step takes one position and no prefix");
    }
    const int64_t n_kv = replayable ? step.n_kv_pad : step.n_past + T;
    const float eps = hp.eps;

    lm_forward_graph g;
    g.graph = ggml_new_graph_custom(ctx, lm_graph_nodes(m), false);

    g.ids = ggml_new_tensor_2d(ctx, GGML_TYPE_I32, T_codes * R, K);
    ggml_set_name(g.ids, "codes");
    ggml_set_input(g.ids);
    g.positions = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
    ggml_set_name(g.positions, "positions");
    ggml_set_input(g.positions);
    if (T > 1 || replayable) {
        g.causal_mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_kv, T);
        ggml_set_name(g.causal_mask, "causal_mask");
        ggml_set_input(g.causal_mask);
    }
    if (replayable) {
        g.k_rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I64, cache.by_head ? n_head * R : R);
        ggml_set_name(g.k_rows, "k_rows");
        ggml_set_input(g.k_rows);
        if (!cache.by_head) {
            g.v_rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I64, H * R);
            ggml_set_name(g.v_rows, "v_rows");
            ggml_set_input(g.v_rows);
        }
    }

    // x = sum_k embed_tokens[k][ids_k] (summed in codebook order, as HF) + positions.
    ggml_tensor* x = nullptr;
    for (int64_t k = 0; k < K; ++k) {
        ggml_tensor* ids_k = ggml_view_1d(ctx, g.ids, T_codes * R, k * g.ids->nb[1]);
        ggml_tensor* e = ggml_get_rows(ctx, m.lm.tok_embd[k], ids_k);
        x = x ? ggml_add(ctx, x, e) : e;
    }
    x = ggml_reshape_3d(ctx, x, H, T_codes, R);
    if (P > 0) {
        g.prefix = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, H, P, R);
        ggml_set_name(g.prefix, "prefix");
        ggml_set_input(g.prefix);
        x = ggml_concat(ctx, g.prefix, x, 1);
    }
    x = ggml_add(ctx, x, ggml_get_rows(ctx, m.lm.pos_embd, g.positions));
    // The code positions (the last T_codes of every row), contiguous so they can be read back.
    const auto codes_of = [&](ggml_tensor* t) {
        return P > 0 ? ggml_cont(ctx, ggml_view_3d(ctx, t, H, T_codes, R, t->nb[1], t->nb[2], P * t->nb[1])) : t;
    };
    g.embd = codes_of(x);
    ggml_set_name(g.embd, "inp_embd");
    ggml_set_output(g.embd);

    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        const lm_layer& layer = m.lm.layers[l];
        ggml_tensor* cache_k = cache.k[l];
        ggml_tensor* cache_v = cache.v[l];

        // Causal self-attention; this step's keys/values go into the cache first, then attention reads
        // positions 0..n_kv-1 from it.
        const std::vector<ggml_tensor*> qkv =
            norm_linear({layer.attn_q, layer.attn_k, layer.attn_v}, x, layer.attn_norm_w, layer.attn_norm_b, false);
        ggml_tensor* q = qkv[0];
        ggml_tensor* k = qkv[1];
        ggml_tensor* v = qkv[2];
        const int64_t n_ctx = cache.n_ctx;
        if (replayable && cache.by_head) {
            // The cache as rows of d values, one per (row, head, position); the new position's are the step's heads.
            ggml_build_forward_expand(g.graph, ggml_set_rows(ctx, ggml_reshape_2d(ctx, cache_k, d, n_ctx * n_head * R),
                                                             ggml_reshape_2d(ctx, k, d, n_head * R), g.k_rows));
            ggml_build_forward_expand(g.graph, ggml_set_rows(ctx, ggml_reshape_2d(ctx, cache_v, d, n_ctx * n_head * R),
                                                             ggml_reshape_2d(ctx, v, d, n_head * R), g.k_rows));
        } else if (replayable) {
            // The cache as rows: K [H, n_ctx * R] one row per (row, position), V [1, n_ctx * H * R] one element
            // per (row, channel, position) since it is stored transposed.
            ggml_build_forward_expand(g.graph, ggml_set_rows(ctx, ggml_reshape_2d(ctx, cache_k, H, n_ctx * R),
                                                             ggml_reshape_2d(ctx, k, H, R), g.k_rows));
            ggml_build_forward_expand(g.graph, ggml_set_rows(ctx, ggml_reshape_2d(ctx, cache_v, 1, n_ctx * H * R),
                                                             ggml_reshape_2d(ctx, v, 1, H * R), g.v_rows));
        } else if (cache.by_head) {
            // T new positions of every head: [d, n_head, T, R] permuted to the cache's [d, T, n_head, R].
            const auto heads = [&](ggml_tensor* t) {
                return ggml_permute(ctx, ggml_reshape_4d(ctx, t, d, n_head, T, R), 0, 2, 1, 3);
            };
            const auto dst = [&](ggml_tensor* c) {
                return ggml_view_4d(ctx, c, d, T, n_head, R, c->nb[1], c->nb[2], c->nb[3], step.n_past * c->nb[1]);
            };
            ggml_build_forward_expand(g.graph, ggml_cpy(ctx, heads(k), dst(cache_k)));
            ggml_build_forward_expand(g.graph, ggml_cpy(ctx, heads(v), dst(cache_v)));
        } else {
            ggml_tensor* k_dst =
                ggml_view_3d(ctx, cache_k, H, T, R, cache_k->nb[1], cache_k->nb[2], step.n_past * cache_k->nb[1]);
            ggml_tensor* v_dst =
                ggml_view_3d(ctx, cache_v, T, H, R, cache_v->nb[1], cache_v->nb[2], step.n_past * cache_v->nb[0]);
            ggml_build_forward_expand(g.graph, ggml_cpy(ctx, k, k_dst));
            ggml_build_forward_expand(g.graph, ggml_cpy(ctx, ggml_transpose(ctx, v), v_dst));
        }

        // A replayed step on a by-head CPU cache: one op over the cache (runtime/cpu-attention.h) instead of
        // ggml's one-column products.
        ggml_tensor* cur =
            replayable && cpu_attention && cache.by_head
                ? cpu_step_attention(ctx, ggml_reshape_3d(ctx, q, d, n_head, R), cache_k, cache_v, g.causal_mask)
                : attention(ctx, q, attention_keys(ctx, cache_k, n_head, n_kv, cache.by_head),
                            attention_values(ctx, cache_v, n_head, n_kv, cache.by_head), g.causal_mask, n_head,
                            contiguous_k);
        x = linear_add(layer.attn_o, cur, x);
        ggml_format_name(x, "self_attn_out_%u", l);

        // Cross-attention for the conditional rows only; the unconditional rows' output is exactly zero
        // (docs/reference-notes.md §7), so they get zero padding instead of a fully masked softmax.
        if (layer.cross_attn_q) {
            if (!g.cross_mask) {
                g.cross_mask = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, cache.n_text, T, 1, C);
                ggml_set_name(g.cross_mask, "cross_mask");
                ggml_set_input(g.cross_mask);
            }
            ggml_tensor* x_cond = ggml_view_3d(ctx, x, H, T, C, x->nb[1], x->nb[2], 0);
            q = norm_linear({layer.cross_attn_q}, x_cond, layer.cross_attn_norm_w, layer.cross_attn_norm_b, false)[0];
            ggml_tensor* ck = cache.cross_k[l];
            ggml_tensor* cv = cache.cross_v[l];
            // One query per row on a by-head CPU cache: the same op as the self-attention's.
            cur = T == 1 && cpu_attention && cache.by_head
                      ? cpu_step_attention(ctx, ggml_reshape_3d(ctx, q, d, n_head, C), ck, cv, g.cross_mask)
                      : attention(ctx, q, attention_keys(ctx, ck, n_head, cache.n_text, cache.by_head),
                                  attention_values(ctx, cv, n_head, cache.n_text, cache.by_head), g.cross_mask, n_head,
                                  contiguous_k);
            x = linear_add(layer.cross_attn_o, cur, x);
            ggml_format_name(x, "cross_attn_out_%u", l);
        }

        cur = norm_linear({layer.ffn_up}, x, layer.ffn_norm_w, layer.ffn_norm_b, true)[0];
        x = linear_add(layer.ffn_down, cur, x);
        ggml_format_name(x, "layer_out_%u", l);
    }

    x = layer_norm(ctx, x, m.lm.output_norm_w, m.lm.output_norm_b, eps);
    x = codes_of(x);
    g.hidden = x;
    ggml_set_name(g.hidden, "last_hidden");
    ggml_set_output(g.hidden);

    // While generating only the last position's logits are needed.
    const int64_t n_out = step.all_logits ? T_codes : 1;
    if (n_out != T_codes) {
        x = ggml_cont(ctx, ggml_view_3d(ctx, x, H, 1, R, x->nb[1], x->nb[2], (T_codes - 1) * x->nb[1]));
    }
    // Heads stacked as [V, n_out, K, R]: read back as HF's [rows, K, positions, V] in one copy.
    ggml_tensor* logits = nullptr;
    for (int64_t k = 0; k < K; ++k) {
        ggml_tensor* lk = ggml_reshape_4d(ctx, linear(m.lm.output[k], x), V, n_out, 1, R);
        logits = logits ? ggml_concat(ctx, logits, lk, 2) : lk;
    }
    g.logits = logits;
    ggml_set_name(g.logits, "logits");
    ggml_set_output(g.logits);
    ggml_build_forward_expand(g.graph, g.logits);
    ggml_build_forward_expand(g.graph, g.hidden);
    ggml_build_forward_expand(g.graph, g.embd);
    return g;
}

}  // namespace mg
