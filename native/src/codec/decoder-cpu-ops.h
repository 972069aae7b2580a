// The EnCodec decoder's fused CPU ops. On the CPU backend each replaces a few of ggml's nodes (each a pass over the
// activations and a barrier of the thread team) with one pass computing the same values:
//  * columns: a Conv1d's gather (reflect padding and the zero frame included) of its input or of the input's ELU
//    (an ELU stage or the residual block's first ELU right before a Conv1d): ELU, pad and get_rows in one;
//  * overlap-add: a ConvTranspose1d's sum of shifted product blocks, trimmed, plus its bias, over the products of
//    the unpadded input (no zero-padded copy of it);
//  * bias: a convolution's product plus its bias, then the ELU or the residual shortcut.
//  * conv: a convolution with a frames_matrix (model/codec-matrices.h: a stride-1 Conv1d, or a ConvTranspose1d in
//    its polyphase form) straight from its input frames: each thread pads (and ELUs) the frames of a tile of
//    outputs into a small buffer (a dilated one gathers the tile's columns there), the kernel set's conv_frames
//    multiplies them in place of gathered columns or of products to overlap-add (runtime/cpu-matvec.h), then bias and
//    ELU or the residual shortcut follow on the tile while it is in cache. Its sums run in another order than ggml's
//    products (a chain of multiply-adds per output), the same for every output wherever it falls in a tile or window.
// The others add in the order of the ggml nodes they replace and uses the decoder's ELU (elu.h), so the results are
// those of the unfused graph; GPUs keep ggml's nodes.
#pragma once
#include <ggml.h>

#include <cstdint>

#include "model/model.h"

namespace mg {

// [C * kernel, n / kernel] from x [C, L] and rows I32 [n]: row j / kernel, part j % kernel, is frame rows[j] of x
// (rows[j] == L: a frame of zeros), through the ELU when `elu`.
ggml_tensor* encodec_cpu_columns(ggml_context* ctx, ggml_tensor* x, ggml_tensor* rows, int64_t kernel, bool elu);

// `conv`'s output [out, L * stride] from its products [out * taps, L] (matrix x input, codec-matrices.h).
ggml_tensor* encodec_cpu_overlap_add(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* products);

// product [C, T] + bias [C], then through the ELU (`elu`), or added to `residual` [C, T] (when not null).
ggml_tensor* encodec_cpu_bias(ggml_context* ctx, ggml_tensor* product, ggml_tensor* bias, bool elu,
                              ggml_tensor* residual);

// conv(x) [out', T'] + bias, then through the ELU (`elu_y`) or added to `residual` [out', T'] (when not null), of x
// [in, L] or of x's ELU (`elu_x`); for a ConvTranspose1d out' = out * stride, the output frames untrimmed. `frames`
// I32 [T' + span - 1] (span: input frames per output frame, the kernel or the shifts): the input frame each padded
// position reads (L: a frame of zeros); with `columns` (a dilated convolution) I32 [T' * span] instead, the frames of
// output t's column at t * span; null for a kernel-1 convolution without padding (T' = L). Requires
// conv.frames_matrix.
ggml_tensor* encodec_cpu_conv(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x, ggml_tensor* frames,
                              bool columns, bool elu_x, bool elu_y, ggml_tensor* residual);

}  // namespace mg
