// The decoder's graph builders (see decoder-conv.h): RVQ decode, gathered Conv1d, ConvTranspose1d by shifted views,
// the residual block; on the CPU through the fused ops of decoder-cpu-ops.h.
#include "codec/decoder-conv.h"

#include <ggml-backend.h>

#include <algorithm>
#include <string>

#include "codec/decoder-cpu-ops.h"
#include "codec/elu.h"
#include "codec/padding.h"
#include "model/codec-matrices.h"
#include "runtime/error.h"

namespace mg {

ggml_tensor* encodec_decoder_graph::rows(ggml_context* ctx, std::vector<int32_t> rows) {
    ggml_tensor* t = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, static_cast<int64_t>(rows.size()));
    ggml_set_input(t);
    rows_.emplace_back(t, std::move(rows));
    return t;
}

ggml_tensor* encodec_rvq_decode(ggml_context* ctx, const std::vector<ggml_tensor*>& codebooks, ggml_tensor* codes) {
    const int64_t frames = codes->ne[0];
    ggml_tensor* sum = nullptr;
    for (int64_t q = 0; q < codes->ne[1]; ++q) {
        ggml_tensor* row_codes = ggml_view_1d(ctx, codes, frames, q * codes->nb[1]);
        ggml_tensor* rows = ggml_get_rows(ctx, codebooks[q], row_codes);
        sum = sum ? ggml_add(ctx, sum, rows) : rows;
    }
    ggml_set_name(sum, "rvq_sum");
    return sum;
}

void encodec_decoder_graph::upload() const {
    for (const auto& [tensor, values] : rows_) ggml_backend_tensor_set(tensor, values.data(), 0, ggml_nbytes(tensor));
}

// Which input frame position p (relative to the unpadded signal, p in [-left, length + right)) reads under HF's
// _pad1d reflect padding. torch can only reflect when the signal is longer than the pad, so a short signal is
// zero-extended to max_pad + 1 frames first (and the mirror image of those zeros cut off again): its positions
// from `length` on read the zero frame, index `length`.
static int32_t reflected(int64_t p, int64_t length, int64_t max_pad) {
    const int64_t extended = length > max_pad ? length : max_pad + 1;
    if (p < 0) p = -p;
    if (p >= extended) p = 2 * (extended - 1) - p;
    return static_cast<int32_t>(std::min(p, length));
}

// The input frame of each column part of a non-causal Conv1d: output t, tap k reads row t * kernel + k.
static std::vector<int32_t> column_rows(const encodec_conv& conv, int64_t length, const encodec_padding& pad) {
    const int64_t max_pad = std::max(pad.left, pad.right);
    std::vector<int32_t> rows(static_cast<size_t>(pad.out_length * conv.kernel));
    for (int64_t t = 0; t < pad.out_length; ++t) {
        for (int64_t k = 0; k < conv.kernel; ++k) {
            rows[t * conv.kernel + k] = reflected(t * conv.stride + k * conv.dilation - pad.left, length, max_pad);
        }
    }
    return rows;
}

// The product of a non-causal Conv1d's matrix with its columns (the bias not yet added): [in, T] ->
// [out, ceil(T / stride)], of the input's ELU when `elu_x`.
static ggml_tensor* conv1d_product(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x, bool elu_x,
                                   encodec_decoder_graph& graph) {
    const int64_t in = x->ne[0];
    const int64_t length = x->ne[1];
    const int64_t stride = conv.stride;
    const encodec_padding pad = encodec_conv1d_padding(conv, length);
    const int64_t left = pad.left;
    const int64_t right = pad.right;
    const int64_t out_length = pad.out_length;

    if (conv.kernel == 1 && stride == 1 && left == 0 && right == 0) {
        return ggml_mul_mat(ctx, conv.matrix, elu_x ? encodec_elu(ctx, x, graph.cpu()) : x);
    }
    std::vector<int32_t> rows = column_rows(conv, length, pad);
    ggml_tensor* columns;
    if (graph.cpu()) {
        columns = encodec_cpu_columns(ctx, x, graph.rows(ctx, std::move(rows)), conv.kernel, elu_x);
    } else {
        const bool reads_zero = std::find(rows.begin(), rows.end(), length) != rows.end();
        ggml_tensor* source = elu_x ? encodec_elu(ctx, x, false) : x;
        if (reads_zero) source = ggml_pad(ctx, source, 0, 1, 0, 0);  // the zero frame at index `length`
        columns = ggml_reshape_2d(ctx, ggml_get_rows(ctx, source, graph.rows(ctx, std::move(rows))), in * conv.kernel,
                                  out_length);
    }
    return ggml_mul_mat(ctx, conv.matrix, columns);
}

// product + bias, then through the ELU (`elu`) or added to `residual` (when not null).
static ggml_tensor* add_bias(ggml_context* ctx, ggml_tensor* product, ggml_tensor* bias, bool elu,
                             ggml_tensor* residual, const encodec_decoder_graph& graph) {
    if (graph.cpu()) return encodec_cpu_bias(ctx, product, bias, elu, residual);
    ggml_tensor* y = ggml_add(ctx, product, bias);
    if (elu) y = encodec_elu(ctx, y, false);
    return residual ? ggml_add(ctx, residual, y) : y;
}

// A direct convolution's matrix reads `span` frames of x's channels per output frame.
static void check_frames_matrix(const encodec_conv& conv, const ggml_tensor* x, int64_t span) {
    if (conv.frames_matrix->ne[1] != x->ne[0] * span) {
        throw error(error_code::backend, "a decoder convolution of " + std::to_string(conv.frames_matrix->ne[1]) +
                                             " inputs per frame received " + std::to_string(x->ne[0]) + " channels");
    }
}

// conv(x, or x's ELU when `elu_x`) + bias, then through the ELU (`elu_y`) or added to `residual` (when not null):
// directly from the input frames when the convolution has a frames_matrix (CPU), else a product of columns.
static ggml_tensor* conv1d(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x, bool elu_x, bool elu_y,
                           ggml_tensor* residual, encodec_decoder_graph& graph) {
    if (!graph.cpu() || !conv.frames_matrix) {
        return add_bias(ctx, conv1d_product(ctx, conv, x, elu_x, graph), conv.bias, elu_y, residual, graph);
    }
    check_frames_matrix(conv, x, conv.kernel);
    const int64_t length = x->ne[1];
    const encodec_padding pad = encodec_conv1d_padding(conv, length);
    ggml_tensor* frames = nullptr;
    const bool columns = conv.dilation != 1;
    if (columns) {
        frames = graph.rows(ctx, column_rows(conv, length, pad));
    } else if (pad.left != 0 || pad.right != 0 || conv.kernel != 1) {
        // Padded position j (output t reads positions t .. t + kernel - 1) is input frame j - left, reflected.
        const int64_t max_pad = std::max(pad.left, pad.right);
        std::vector<int32_t> rows(static_cast<size_t>(pad.out_length + conv.kernel - 1));
        for (size_t j = 0; j < rows.size(); ++j)
            rows[j] = reflected(static_cast<int64_t>(j) - pad.left, length, max_pad);
        frames = graph.rows(ctx, std::move(rows));
    }
    return encodec_cpu_conv(ctx, conv, x, frames, columns, elu_x, elu_y, residual);
}

ggml_tensor* encodec_decoder_conv1d(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x, bool elu_x,
                                    encodec_decoder_graph& graph) {
    return conv1d(ctx, conv, x, elu_x, false, nullptr, graph);
}

ggml_tensor* encodec_decoder_conv_transpose1d(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x, bool elu_x,
                                              encodec_decoder_graph& graph) {
    const int64_t length = x->ne[1];
    const int64_t stride = conv.stride;
    const int64_t taps = encodec_transposed_taps(conv);
    const int64_t shifts = taps / stride;  // input frames that overlap in one output frame block
    const int64_t trim_left = encodec_conv_transpose1d_trim(conv).left;
    if (graph.cpu() && conv.frames_matrix) {
        // Polyphase: untrimmed output frame u (samples u * stride ..) from input frames u - shifts + 1 .. u, zeros
        // beyond either end; its samples are consecutive rows of `out` channels, so the trim is a view.
        check_frames_matrix(conv, x, shifts);
        std::vector<int32_t> rows(static_cast<size_t>(length + 2 * (shifts - 1)));
        for (size_t j = 0; j < rows.size(); ++j) {
            const int64_t frame = static_cast<int64_t>(j) - (shifts - 1);
            rows[j] = static_cast<int32_t>(frame >= 0 && frame < length ? frame : length);
        }
        ggml_tensor* y = encodec_cpu_conv(ctx, conv, x, graph.rows(ctx, std::move(rows)), false, elu_x, false, nullptr);
        const int64_t out = y->ne[0] / stride;
        return ggml_view_2d(ctx, y, out, length * stride, static_cast<size_t>(out) * sizeof(float),
                            static_cast<size_t>(trim_left * out) * sizeof(float));
    }
    if (elu_x) x = encodec_elu(ctx, x, graph.cpu());
    if (graph.cpu()) return encodec_cpu_overlap_add(ctx, conv, ggml_mul_mat(ctx, conv.matrix, x));
    const int64_t out = conv.matrix->ne[1] / taps;

    // Zero frames on both sides let every shift read a full-length view: products [out, taps, length + 2 shifts - 2].
    ggml_tensor* padded =
        shifts > 1 ? ggml_pad_ext(ctx, x, 0, 0, static_cast<int>(shifts - 1), static_cast<int>(shifts - 1), 0, 0, 0, 0)
                   : x;
    ggml_tensor* products = ggml_mul_mat(ctx, conv.matrix, padded);
    // Untrimmed output block u (samples u * stride + r, r < stride) = sum over h of tap h * stride + r of input
    // frame u - h, i.e. product column u - h + shifts - 1.
    const int64_t blocks = length + shifts - 1;
    const size_t row = static_cast<size_t>(out) * sizeof(float);
    ggml_tensor* full = nullptr;
    for (int64_t h = 0; h < shifts; ++h) {
        ggml_tensor* view = ggml_view_3d(ctx, products, out, stride, blocks, row, products->nb[1],
                                         static_cast<size_t>(h * stride) * row + (shifts - 1 - h) * products->nb[1]);
        full = full ? ggml_add(ctx, full, view) : view;
    }
    // The trimmed samples start at trim_left, and the view is contiguous (frames are rows of `out` channels).
    ggml_tensor* trimmed = ggml_view_2d(ctx, full, out, length * stride, row, static_cast<size_t>(trim_left) * row);
    return ggml_add(ctx, trimmed, conv.bias);
}

// HF's EncodecResnetBlock with the identity shortcut (use_conv_shortcut = false): x + conv2(ELU(conv1(ELU(x)))),
// conv1 the dilated residual-kernel convolution to dim / compress channels, conv2 the kernel-1 one back to dim
// (docs/reference-notes.md §10.2). On the CPU the ELUs, biases and the shortcut ride along with the gather and the
// products' epilogues (decoder-cpu-ops.h).
static ggml_tensor* residual_block(ggml_context* ctx, const encodec_resblock& block, ggml_tensor* x,
                                   encodec_decoder_graph& graph) {
    ggml_tensor* hidden = conv1d(ctx, block.conv1, x, true, true, nullptr, graph);
    return conv1d(ctx, block.conv2, hidden, false, false, x, graph);
}

ggml_tensor* encodec_decoder_stage(ggml_context* ctx, const encodec_stage& stage, ggml_tensor* x,
                                   encodec_decoder_graph& graph) {
    switch (stage.kind) {
        case encodec_stage_kind::conv:
            return stage.conv.transposed ? encodec_decoder_conv_transpose1d(ctx, stage.conv, x, false, graph)
                                         : encodec_decoder_conv1d(ctx, stage.conv, x, false, graph);
        case encodec_stage_kind::elu:
            return encodec_elu(ctx, x, graph.cpu());
        case encodec_stage_kind::resblock:
            return residual_block(ctx, stage.res, x, graph);
        case encodec_stage_kind::lstm:
            break;
    }
    throw error(error_code::backend, "codec stage " + std::to_string(stage.index) + " is not a convolution stage");
}

}  // namespace mg
