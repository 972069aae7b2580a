// Graph builders for the EnCodec decoder: the RVQ decode and the convolutional stages as matrix products over
// channel-fastest activations ([C, T] in ggml order, one frame per row: the RVQ's and the LSTM's layout, so the
// decoder never transposes). Every convolution multiplies its precomputed F32 matrix (model/codec-matrices.h)
// with the input:
//  * Conv1d: one gather of the frames each output reads, reflect padding and stride included, makes the
//    [in * kernel, T'] columns; a kernel-1 convolution multiplies the input itself.
//  * ConvTranspose1d: [out * kernel', T] = matrix x input, then the overlap-add of output frame t * stride + r is
//    a sum of kernel' / stride shifted products (ggml's own conv_transpose_1d is a single-threaded-setup dot loop).
// On the CPU the gathers, the overlap-add and what follows a product (bias, ELU, the residual shortcut) are fused
// ops (decoder-cpu-ops.h); other backends build them from ggml's nodes (get_rows, pad, views, add, ELU).
// Same results as the PyTorch reference (docs/reference-notes.md §10.2, §10.3) up to float32 summation order.
// The padding arithmetic (codec/padding.h) is shared with the encoder's graphs (encoder-conv.h), which keep
// time-fastest activations.
#pragma once
#include <ggml.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "model/model.h"

namespace mg {

// What building one decoder graph needs besides the stages: the index tensors its gathers read (values known
// when the graph is built, uploaded by upload() before it runs) and whether it runs on the CPU alone.
class encodec_decoder_graph {
  public:
    explicit encodec_decoder_graph(bool cpu) : cpu_(cpu) {}
    ggml_tensor* rows(ggml_context* ctx, std::vector<int32_t> rows);
    void upload() const;
    bool cpu() const { return cpu_; }

  private:
    bool cpu_;
    std::vector<std::pair<ggml_tensor*, std::vector<int32_t>>> rows_;
};

// Sum of one codebook row per quantizer: codes I32 [frames, n_q] -> [hidden, frames] (channel fastest).
ggml_tensor* encodec_rvq_decode(ggml_context* ctx, const std::vector<ggml_tensor*>& codebooks, ggml_tensor* codes);

// Non-causal Conv1d with HF's reflect padding (short inputs included): [in, T] -> [out, ceil(T / stride)], of x's
// ELU when `elu_x` (an ELU stage right before it).
ggml_tensor* encodec_decoder_conv1d(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x, bool elu_x,
                                    encodec_decoder_graph& graph);

// ConvTranspose1d trimmed like HF (kernel - stride, the odd sample on the left): [in, T] -> [out, T * stride], of
// x's ELU when `elu_x` (an ELU stage right before it).
ggml_tensor* encodec_decoder_conv_transpose1d(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x, bool elu_x,
                                              encodec_decoder_graph& graph);

// One convolution, ELU or residual-block stage of the decoder: [C, T] -> [C', T']. Throws mg::error(backend) for
// an LSTM stage, which runs outside these graphs (lstm.h).
ggml_tensor* encodec_decoder_stage(ggml_context* ctx, const encodec_stage& stage, ggml_tensor* x,
                                   encodec_decoder_graph& graph);

}  // namespace mg
