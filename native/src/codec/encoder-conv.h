// Graph builders for the EnCodec encoder's convolutional pieces (REFERENCE_NOTES §10.2, §10.3) and the RVQ
// decode. Encoder activations are [T, C] in ggml order (time fastest), i.e. PyTorch's [C, T], which is what im2col
// and pad_reflect_1d expect. The decoder's convolutions are in encodec-decoder-conv.h.
#pragma once
#include <ggml.h>

#include <vector>

#include "model/model.h"

namespace mg {

// Sum of one codebook row per quantizer: codes I32 [frames, n_q] -> [hidden, frames] (channel fastest).
ggml_tensor* encodec_rvq_decode(ggml_context* ctx, const std::vector<ggml_tensor*>& codebooks, ggml_tensor* codes);

// Non-causal Conv1d with HF's reflect padding (short inputs included): [T, in] -> [ceil(T / stride), out].
ggml_tensor* encodec_conv1d(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x);

// x + conv2(ELU(conv1(ELU(x)))).
ggml_tensor* encodec_residual_block(ggml_context* ctx, const encodec_resblock& block, ggml_tensor* x);

}  // namespace mg
