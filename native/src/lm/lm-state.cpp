// Per-run LM state (see lm-state.h): KV cache, cross-attention K/V, step graphs and host staging.
#include "lm/lm-state.h"

#include <ggml-backend.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>
#include <utility>

#include "runtime/error.h"

namespace mg {

lm_session::lm_session(const model& m, int32_t n_cond, bool guided, int32_t n_ctx, const text_states& text,
                       const std::vector<float>& text_mask)
    : m_(m), runner_(m.backends, lm_graph_nodes(m)) {
    const lm_hparams& hp = m.hparams.lm;
    if (hp.variant != lm_variant::text) {
        throw error(error_code::invalid_argument,
                    "a MusicGen-Melody LM is conditioned through a prefix, not text states");
    }
    if (n_cond < 1) throw error(error_code::invalid_argument, "at least one prompt is needed");
    if (n_ctx < 1 || static_cast<uint32_t>(n_ctx) > hp.max_position) {
        throw error(error_code::invalid_argument, "the LM can attend to at most " + std::to_string(hp.max_position) +
                                                      " positions, " + std::to_string(n_ctx) + " requested");
    }
    if (text.n_batch != n_cond || text.n_tokens < 1 || text.n_embd != static_cast<int32_t>(hp.n_embd) ||
        text.data.size() != static_cast<size_t>(n_cond) * text.n_tokens * hp.n_embd ||
        text_mask.size() != static_cast<size_t>(n_cond) * text.n_tokens) {
        throw error(error_code::invalid_argument, "text states do not match the LM (width " +
                                                      std::to_string(hp.n_embd) + ", " + std::to_string(n_cond) +
                                                      " prompts)");
    }
    const int32_t n_rows = guided ? 2 * n_cond : n_cond;
    cache_ = new_lm_cache(m, n_rows, n_cond, n_ctx, text.n_tokens);
    text_mask_ = text_mask;

    lm_cross_kv_graph g;
    runner_.run([&](ggml_context* ctx) { return (g = build_lm_cross_kv(ctx, m_, cache_)).graph; },
                [&] { ggml_backend_tensor_set(g.states, text.data.data(), 0, ggml_nbytes(g.states)); }, [] {});
}

lm_session::lm_session(const model& m, int32_t n_cond, bool guided, int32_t n_ctx, melody_prefix prefix)
    : m_(m), runner_(m.backends, lm_graph_nodes(m)), prefix_(std::move(prefix)) {
    const lm_hparams& hp = m.hparams.lm;
    if (hp.variant != lm_variant::melody) {
        throw error(error_code::invalid_argument, "prefix conditioning needs a MusicGen-Melody model");
    }
    if (n_cond < 1) throw error(error_code::invalid_argument, "at least one prompt is needed");
    const int32_t n_rows = guided ? 2 * n_cond : n_cond;
    if (prefix_.n_rows != n_rows || prefix_.n_tokens < 1 || prefix_.n_embd != static_cast<int32_t>(hp.n_embd) ||
        prefix_.data.size() != static_cast<size_t>(n_rows) * prefix_.n_tokens * hp.n_embd) {
        throw error(error_code::invalid_argument, "the conditioning prefix does not match the LM (width " +
                                                      std::to_string(hp.n_embd) + ", " + std::to_string(n_rows) +
                                                      " rows)");
    }
    // Positions run over prefix and codes together (docs/reference-notes.md §11.2).
    const int64_t n_total = int64_t{prefix_.n_tokens} + n_ctx;
    if (n_ctx < 1 || n_total > hp.max_position) {
        throw error(error_code::invalid_argument, "the LM can attend to at most " + std::to_string(hp.max_position) +
                                                      " positions; " + std::to_string(n_total) + " requested (" +
                                                      std::to_string(prefix_.n_tokens) +
                                                      " of them the melody and text prefix)");
    }
    cache_ = new_lm_cache(m, n_rows, n_cond, static_cast<int32_t>(n_total), 0);
}

// Graph layout: codebook k's ids of (row r, token t) at [k][r * n_tokens + t]; ids are checked here because
// get_rows does not.
void lm_session::stage_ids(const int32_t* ids, int32_t n_tokens) {
    const lm_hparams& hp = m_.hparams.lm;
    const int32_t K = static_cast<int32_t>(hp.n_codebooks), R = cache_.n_rows;
    ids_.resize(static_cast<size_t>(R) * K * n_tokens);
    for (int32_t r = 0; r < R; ++r) {
        for (int32_t k = 0; k < K; ++k) {
            for (int32_t t = 0; t < n_tokens; ++t) {
                const int32_t id = ids[(static_cast<size_t>(r) * K + k) * n_tokens + t];
                if (id < 0 || static_cast<uint32_t>(id) > hp.codebook_size) {
                    throw error(error_code::invalid_argument, "decoder id " + std::to_string(id) + " of codebook " +
                                                                  std::to_string(k) + " is outside 0.." +
                                                                  std::to_string(hp.codebook_size));
                }
                ids_[(static_cast<size_t>(k) * R + r) * n_tokens + t] = id;
            }
        }
    }
}

// HF adds finfo(float32).min on padded text keys; every prompt has at least its EOS token unmasked.
void lm_session::stage_cross_mask(int32_t n_tokens) {
    const int32_t C = cache_.n_cond, n_text = cache_.n_text;
    cross_mask_.resize(static_cast<size_t>(C) * n_tokens * n_text);
    for (int32_t b = 0; b < C; ++b) {
        for (int32_t t = 0; t < n_tokens; ++t) {
            for (int32_t j = 0; j < n_text; ++j) {
                cross_mask_[(static_cast<size_t>(b) * n_tokens + t) * n_text + j] =
                    text_mask_[static_cast<size_t>(b) * n_text + j] != 0.0f ? 0.0f : -FLT_MAX;
            }
        }
    }
}

void lm_session::forward(const int32_t* ids, int32_t n_tokens, bool all_logits, bool want_states, lm_outputs& out) {
    // The prefix (melody) enters with the first call, before its code positions.
    const int32_t n_prefix = prefix_.n_tokens, n_new = n_prefix + n_tokens;
    const int32_t n_kv = n_past_ + n_new;
    if (n_tokens < 1 || n_kv > cache_.n_ctx) {
        throw error(error_code::invalid_argument, "the LM session holds " + std::to_string(cache_.n_ctx) +
                                                      " positions; " + std::to_string(n_kv) + " requested");
    }
    if (n_tokens == 1 && n_prefix == 0 && !all_logits && !want_states) {
        step(ids, out);
        return;
    }

    stage_ids(ids, n_tokens);
    positions_.resize(n_new);
    for (int32_t t = 0; t < n_new; ++t) positions_[t] = n_past_ + t;
    if (n_new > 1) {
        // -inf above the diagonal: every query sees at least itself, so no row is fully masked. The melody
        // prefix gets no padding mask (HF attends its zeroed text-padding rows too).
        causal_mask_.resize(static_cast<size_t>(n_kv) * n_new);
        for (int32_t t = 0; t < n_new; ++t) {
            for (int32_t j = 0; j < n_kv; ++j) {
                causal_mask_[static_cast<size_t>(t) * n_kv + j] = j <= n_past_ + t ? 0.0f : -INFINITY;
            }
        }
    }
    stage_cross_mask(n_tokens);

    const lm_step step{n_tokens, n_past_, all_logits, n_prefix};
    lm_forward_graph g;
    step_kv_pad_ = 0;  // run() replaces the prepared step graph
    runner_.run([&](ggml_context* ctx) { return (g = build_lm_forward(ctx, m_, cache_, step)).graph; },
                [&] {
                    ggml_backend_tensor_set(g.ids, ids_.data(), 0, ggml_nbytes(g.ids));
                    ggml_backend_tensor_set(g.positions, positions_.data(), 0, ggml_nbytes(g.positions));
                    if (g.prefix) ggml_backend_tensor_set(g.prefix, prefix_.data.data(), 0, ggml_nbytes(g.prefix));
                    if (g.causal_mask) {
                        ggml_backend_tensor_set(g.causal_mask, causal_mask_.data(), 0, ggml_nbytes(g.causal_mask));
                    }
                    if (g.cross_mask) {
                        ggml_backend_tensor_set(g.cross_mask, cross_mask_.data(), 0, ggml_nbytes(g.cross_mask));
                    }
                },
                [&] {
                    out.logits.resize(ggml_nelements(g.logits));
                    ggml_backend_tensor_get(g.logits, out.logits.data(), 0, ggml_nbytes(g.logits));
                    if (want_states) {
                        out.embd.resize(ggml_nelements(g.embd));
                        out.hidden.resize(ggml_nelements(g.hidden));
                        ggml_backend_tensor_get(g.embd, out.embd.data(), 0, ggml_nbytes(g.embd));
                        ggml_backend_tensor_get(g.hidden, out.hidden.data(), 0, ggml_nbytes(g.hidden));
                    }
                });
    n_past_ = n_kv;
    prefix_ = melody_prefix{};
}

// One generation step through the replayable graph: rebuilt only when the new position leaves its padded length.
void lm_session::step(const int32_t* ids, lm_outputs& out) {
    const int32_t n_kv = n_past_ + 1;
    const int32_t n_kv_pad = std::min(cache_.n_ctx, (n_kv + lm_kv_block - 1) / lm_kv_block * lm_kv_block);
    stage_ids(ids, 1);
    if (n_kv_pad != step_kv_pad_ || !runner_.prepared()) {
        lm_step step;
        step.n_kv_pad = n_kv_pad;
        runner_.prepare(
            [&](ggml_context* ctx) { return (step_graph_ = build_lm_forward(ctx, m_, cache_, step)).graph; });
        step_kv_pad_ = n_kv_pad;
        ++step_builds_;
        stage_cross_mask(1);
    }
    set_step_inputs(step_graph_, n_kv);
    runner_.compute();
    out.logits.resize(ggml_nelements(step_graph_.logits));
    ggml_backend_tensor_get(step_graph_.logits, out.logits.data(), 0, ggml_nbytes(step_graph_.logits));
    n_past_ = n_kv;
}

// Every input of the step graph, every step (the scheduler may reuse an input's memory once it has been read).
void lm_session::set_step_inputs(const lm_forward_graph& g, int32_t n_kv) {
    const int64_t R = cache_.n_rows, H = m_.hparams.lm.n_embd, n_head = m_.hparams.lm.n_head, n_ctx = cache_.n_ctx;
    const int64_t position = n_kv - 1;
    positions_.assign(1, static_cast<int32_t>(position));
    causal_mask_.resize(static_cast<size_t>(step_kv_pad_));
    for (int32_t j = 0; j < step_kv_pad_; ++j) causal_mask_[j] = j < n_kv ? 0.0f : -INFINITY;
    if (cache_.by_head) {
        k_rows_.resize(static_cast<size_t>(n_head * R));
        for (int64_t i = 0; i < n_head * R; ++i) k_rows_[static_cast<size_t>(i)] = i * n_ctx + position;
    } else {
        k_rows_.resize(static_cast<size_t>(R));
        v_rows_.resize(static_cast<size_t>(H * R));
        for (int64_t r = 0; r < R; ++r) {
            k_rows_[static_cast<size_t>(r)] = r * n_ctx + position;
            for (int64_t h = 0; h < H; ++h) v_rows_[static_cast<size_t>(r * H + h)] = (r * H + h) * n_ctx + position;
        }
    }
    ggml_backend_tensor_set(g.ids, ids_.data(), 0, ggml_nbytes(g.ids));
    ggml_backend_tensor_set(g.positions, positions_.data(), 0, ggml_nbytes(g.positions));
    ggml_backend_tensor_set(g.causal_mask, causal_mask_.data(), 0, ggml_nbytes(g.causal_mask));
    ggml_backend_tensor_set(g.k_rows, k_rows_.data(), 0, ggml_nbytes(g.k_rows));
    if (g.v_rows) ggml_backend_tensor_set(g.v_rows, v_rows_.data(), 0, ggml_nbytes(g.v_rows));
    if (g.cross_mask) ggml_backend_tensor_set(g.cross_mask, cross_mask_.data(), 0, ggml_nbytes(g.cross_mask));
}

}  // namespace mg
