// The padding arithmetic of Hugging Face's EnCodec convolutions (docs/reference-notes.md §10.2), written once for
// the encoder's and the decoder's graphs and the streaming decoder's context bookkeeping:
//  * EncodecConv1d, non-causal (the model's use_causal_conv = false, pad_mode reflect): padding_total =
//    (kernel - 1) * dilation + 1 - stride, split right = padding_total / 2, left = the rest, plus
//    get_extra_padding_for_conv1d on the right so that the last window is complete (always 0 at stride 1).
//    The padding is a reflection (HF's _pad1d, short signals included); how each graph reflects depends on its
//    activation layout (encoder-conv.cpp: ggml_pad_reflect_1d, decoder-conv.cpp: a gather of frame indices).
//  * EncodecConvTranspose1d, non-causal: padding_total = kernel - stride samples trimmed, right =
//    padding_total / 2, left = the rest.
#pragma once
#include <cstdint>

#include "model/model.h"

namespace mg {

// How a non-causal Conv1d pads a signal of `length` frames, and how many frames it yields.
struct encodec_padding {
    int64_t left = 0;        // reflected frames before the signal
    int64_t right = 0;       // reflected frames after it, `extra` included
    int64_t extra = 0;       // HF's get_extra_padding_for_conv1d (part of `right`)
    int64_t out_length = 0;  // ceil(length / stride)
};

inline encodec_padding encodec_conv1d_padding(int64_t kernel, int64_t stride, int64_t dilation, int64_t length) {
    const int64_t k_eff = (kernel - 1) * dilation + 1;
    const int64_t pad_total = k_eff - stride;
    // get_extra_padding_for_conv1d: n_frames = ceil((length - k_eff + pad_total) / stride + 1) - 1.
    const int64_t n_frames = (length + stride - 1) / stride - 1;
    encodec_padding p;
    p.extra = n_frames * stride + k_eff - pad_total - length;
    p.right = pad_total / 2 + p.extra;
    p.left = pad_total - pad_total / 2;
    p.out_length = n_frames + 1;
    return p;
}

inline encodec_padding encodec_conv1d_padding(const encodec_conv& conv, int64_t length) {
    return encodec_conv1d_padding(conv.kernel, conv.stride, conv.dilation, length);
}

// Samples a non-causal ConvTranspose1d trims from each end of its full output (kernel >= stride).
struct encodec_trim {
    int64_t left = 0;
    int64_t right = 0;
};

inline encodec_trim encodec_conv_transpose1d_trim(const encodec_conv& conv) {
    const int64_t pad_total = int64_t{conv.kernel} - conv.stride;
    encodec_trim trim;
    trim.right = pad_total / 2;
    trim.left = pad_total - trim.right;
    return trim;
}

}  // namespace mg
