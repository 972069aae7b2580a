// T5 encoder graph (HF T5EncoderModel, docs/reference-notes.md §3): token embedding, n_layer pre-RMSNorm blocks of
// self-attention with a shared relative-position bias and a feed-forward, final RMSNorm.
#pragma once
#include <ggml.h>

#include <cstddef>
#include <cstdint>

#include "model/model.h"

namespace mg {

// HF T5Attention._relative_position_bucket with bidirectional=True: rel = key index - query index. Half of the
// buckets per direction (keys after the query use the upper half), exact buckets for |rel| below a quarter of
// them, log-spaced buckets (float32 log, truncated) up to max_distance, the last bucket beyond.
int32_t t5_relative_bucket(int32_t rel, int32_t n_buckets, int32_t max_distance);

// The graph's inputs, created by build_t5_graph; the caller uploads them once the graph is allocated.
struct t5_graph_inputs {
    ggml_tensor* ids = nullptr;      // I32 [n_tokens * n_batch]: token ids, batch-major
    ggml_tensor* buckets = nullptr;  // I32 [n_tokens * n_tokens]: bucket of (k - q) at k + n_tokens * q
    ggml_tensor* kq_mask = nullptr;  // F32 [n_tokens, 1, 1, n_batch]: 0 for tokens, -FLT_MAX for padding keys
};

// Graph nodes build_t5_graph needs at most (independent of batch and prompt length).
size_t t5_graph_nodes(const t5_hparams& hp);

// Builds last_hidden_state as [n_embd, n_tokens * n_batch] (batch-major, named "t5_out") in `ctx`, whose
// tensors carry no data; fills `inputs` with the tensors the caller must upload.
ggml_tensor* build_t5_graph(ggml_context* ctx, const model& m, int64_t n_tokens, int64_t n_batch,
                            t5_graph_inputs& inputs);

}  // namespace mg
