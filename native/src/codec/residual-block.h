// EnCodec's residual block, written once for the encoder and the decoder: HF's EncodecResnetBlock with the
// identity shortcut (use_conv_shortcut = false), x + conv2(ELU(conv1(ELU(x)))), conv1 the dilated
// residual-kernel convolution to dim / compress channels, conv2 the kernel-1 one back to dim
// (docs/reference-notes.md §10.2).
//
// Why a template over the convolution and the ELU: the block is the same computation in both directions, but
// the two graphs keep their activations in different layouts and so convolve differently. The encoder's are
// time-fastest [T, C] (what ggml's im2col and pad_reflect_1d expect, encoder-conv.h); the decoder's are
// channel-fastest [C, T] (the RVQ's and the LSTM's layout, convolutions as F32 matrix products, decoder-conv.h),
// and the decoder's ELU is a custom CPU op (elu.h).
#pragma once
#include <ggml.h>

#include "model/model.h"

namespace mg {

// `conv(const encodec_conv&, ggml_tensor*)` and `elu(ggml_tensor*)` build the graph's convolution and ELU.
template <typename Conv, typename Elu>
ggml_tensor* encodec_residual_block(ggml_context* ctx, const encodec_resblock& block, ggml_tensor* x, Conv&& conv,
                                    Elu&& elu) {
    ggml_tensor* hidden = conv(block.conv1, elu(x));
    return ggml_add(ctx, x, conv(block.conv2, elu(hidden)));
}

}  // namespace mg
