// Attention of one query per row over a decoder layer's KV cache on the CPU backend, as one custom op. ggml's CPU
// products take their tiled kernels only for two or more columns, so a generation step's attention (one query)
// ran as one 64-value dot product per cached key and one per value channel: 11-12 % of a 4 s q8_0 generation's
// profile on the 2-core development VM, for ~25 M multiply-adds. This op computes scores, softmax and the weighted
// values of every (row, head) with the matrix-vector kernels of cpu-matvec.h, the pairs split between the threads.
#pragma once
#include <ggml.h>

#include <cstdint>

namespace mg {

// q [d, n_head, R] (contiguous: a step's queries, one per row, split into heads) against the cache's keys and values,
// both [d, n_ctx, n_head, R] (each head's positions one after another; both f32 or both f16), over the first
// mask->ne[0] positions less those the mask's tail gives -inf (they weigh exactly 0, so they are not read): softmax of
// the products scaled by 1/sqrt(d) plus mask [n_kv, 1, 1, 1] (every row's) or [n_kv, 1, 1, R] (one per row), times
// the values. Returns [H, 1, R] (H = d * n_head), as the
// graph's mul_mat / soft_max_ext / mul_mat would, through the kernels of cpu_matvec_kernels() (callers keep ggml's
// path when those are ggml's). Throws mg::error(backend) for shapes it does not take.
ggml_tensor* cpu_step_attention(ggml_context* ctx, ggml_tensor* q, ggml_tensor* cache_k, ggml_tensor* cache_v,
                                ggml_tensor* mask);

}  // namespace mg
