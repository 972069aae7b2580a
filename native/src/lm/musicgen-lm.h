// Graphs of the MusicGen LM (docs/reference-notes.md §5): the decoder transformer over the summed codebook
// embeddings, pre-LayerNorm blocks with causal self-attention (KV cache), cross-attention to the projected
// text states (text variant) and an erf-GELU FFN, then one linear head per codebook.
// Rows of a batch are decoder sequences: the conditional rows first, then the unconditional rows of
// classifier-free guidance (as HF duplicates the batch). Only the conditional rows cross-attend: HF's
// unconditional rows attend to all-zero, fully masked states, whose attention output is exactly zero.
#pragma once
#include <ggml-cpp.h>
#include <ggml.h>

#include <cstdint>
#include <vector>

#include "model/model.h"
#include "runtime/zeroed-host-buffer.h"

namespace mg {

// Per-run LM memory on the model's main device, allocated once for the whole generation.
struct lm_cache {
    int32_t n_rows = 0;  // decoder rows: n_cond conditional, then the unconditional ones
    int32_t n_cond = 0;  // rows that cross-attend to text states
    int32_t n_ctx = 0;   // positions the self-attention cache holds
    int32_t n_text = 0;  // text tokens (cross-attention keys)

    // Per layer, in one of two layouts:
    // * by_head (a CPU cache): keys and values [d, n_ctx, n_head, n_rows], each head's positions one after another,
    //   so the step's attention op (runtime/cpu-attention.h) reads both in address order and the first steps touch
    //   only the first page of every head's block (the pages are zero-filled as they are first written);
    // * otherwise keys [H, n_ctx, n_rows] and values transposed [n_ctx, H, n_rows], so ggml's attention reads them as
    //   the left operands of its mat-muls without a copy.
    bool by_head = false;
    std::vector<ggml_tensor*> k;
    std::vector<ggml_tensor*> v;
    // Per layer, computed once per prompt batch, f32: by_head keys and values [d, n_text, n_head, n_cond] (a step's
    // cross-attention then runs through the same op as its self-attention), otherwise keys [H, n_text, n_cond] and
    // values [n_text, H, n_cond].
    std::vector<ggml_tensor*> cross_k;
    std::vector<ggml_tensor*> cross_v;

    ggml_context_ptr ctx;
    zeroed_host_buffer memory;  // the pages of a CPU cache (empty on other devices); released after `buffer`
    ggml_backend_buffer_ptr buffer;
};

// n_text may be 0 only for a model without cross-attention.
lm_cache new_lm_cache(const model& m, int32_t n_rows, int32_t n_cond, int32_t n_ctx, int32_t n_text);

// Cross-attention keys/values of every layer from the projected text states, written into the cache.
struct lm_cross_kv_graph {
    ggml_cgraph* graph = nullptr;
    ggml_tensor* states = nullptr;  // input F32 [H, n_text, n_cond]: enc_to_dec_proj(t5) * mask
};

lm_cross_kv_graph build_lm_cross_kv(ggml_context* ctx, const model& m, const lm_cache& cache);

// One decoder forward pass over n_tokens new positions of every row, after n_past cached ones.
struct lm_step {
    int32_t n_tokens = 1;
    int32_t n_past = 0;
    bool all_logits = false;  // logits for every new position (teacher forcing), else only the last
    int32_t n_prefix = 0;     // melody: prefix rows fed before the n_tokens code positions (first step only)
    // > 0: the replayable generation step (one new position, no prefix, last logits only; n_past unused). Nothing
    // in its graph depends on the step: it attends over the first n_kv_pad cache positions through kv_mask (0 up
    // to the new position, -inf beyond), writes K/V with ggml_set_rows at the index inputs k_rows/v_rows, and
    // takes the position as an input. So it is built and allocated once per lm_kv_block positions and recomputed
    // every step (and a GPU backend can replay it, e.g. as a captured CUDA graph).
    int32_t n_kv_pad = 0;
};

// Cache positions a replayable step graph covers beyond the last written one, rounded up to this (llama.cpp pads
// its KV views to 256 likewise): attending to a few masked positions costs less than rebuilding every step.
constexpr int32_t lm_kv_block = 256;

struct lm_forward_graph {
    ggml_cgraph* graph = nullptr;
    ggml_tensor* ids = nullptr;          // input I32 [n_tokens * n_rows, K]: (row r, token t) at r * n_tokens + t
    ggml_tensor* prefix = nullptr;       // input F32 [H, n_prefix, n_rows]; null without a prefix
    ggml_tensor* positions = nullptr;    // input I32 [n_prefix + n_tokens]: n_past + t
    ggml_tensor* causal_mask = nullptr;  // input F32 [n_kv, n_prefix + n_tokens]; null for a single position
                                         // (except the replayable step: its kv_mask [n_kv_pad, 1])
    // Replayable step: where its keys and values go. by_head: input I64 [n_head * n_rows], the cache row (of d
    // values) (r * n_head + h) * n_ctx + position for both (v_rows null). Otherwise k_rows I64 [n_rows], K cache row
    // r * n_ctx + position, and v_rows I64 [H * n_rows], V cache element (r * H + h) * n_ctx + position.
    ggml_tensor* k_rows = nullptr;
    ggml_tensor* v_rows = nullptr;
    ggml_tensor* cross_mask = nullptr;  // input F32 [n_text, n_tokens, 1, n_cond]: 0 or -FLT_MAX (HF's finfo.min)
    // Outputs cover the code positions only (prefix logits are unused, as in HF).
    ggml_tensor* embd = nullptr;    // output F32 [H, n_tokens, n_rows]: code embeddings + positions
    ggml_tensor* hidden = nullptr;  // output F32 [H, n_tokens, n_rows]: after the final LayerNorm
    ggml_tensor* logits = nullptr;  // output F32 [V, n_out, K, n_rows] (n_out = n_tokens or 1)
};

// Melody: that variant has no cross-attention (cross_attn_* are null, the sub-layer is skipped); its
// projected prefix rows enter as an extra embedding input at positions 0..n_prefix-1 of the first step and
// are attended causally, without padding mask, like code positions.
lm_forward_graph build_lm_forward(ggml_context* ctx, const model& m, const lm_cache& cache, const lm_step& step);

// Nodes of the largest LM graph, for sizing the graph runner.
size_t lm_graph_nodes(const model& m);

}  // namespace mg
