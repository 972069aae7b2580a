// Graph builders for the EnCodec encoder's convolutional stages (docs/reference-notes.md §10.2, §10.3). Encoder
// activations are [T, C] in ggml order (time fastest), i.e. PyTorch's [C, T], which is what ggml's im2col and
// pad_reflect_1d expect; the kernels stay in the file's type. The decoder's convolutions, over channel-fastest
// activations with F32 matrices, are in decoder-conv.h; both share codec/padding.h.
#pragma once
#include <ggml.h>

#include "model/model.h"

namespace mg {

// Non-causal Conv1d with HF's reflect padding (short inputs included): [T, in] -> [ceil(T / stride), out].
ggml_tensor* encodec_encoder_conv1d(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x);

// One convolution, ELU or residual-block stage of the encoder: [T, C] -> [T', C']. Throws mg::error(backend) for
// an LSTM stage, which runs outside these graphs (lstm.h), and for a transposed convolution (a decoder stage).
ggml_tensor* encodec_encoder_stage(ggml_context* ctx, const encodec_stage& stage, ggml_tensor* x);

}  // namespace mg
