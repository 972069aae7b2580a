// The encoder's convolution stages (see encoder-conv.h): im2col convolutions over time-fastest activations.
#include "codec/encoder-conv.h"

#include <algorithm>
#include <string>

#include "codec/padding.h"
#include "runtime/error.h"

namespace mg {

// Reflect padding along time. torch (and ggml) can only reflect when the signal is longer than the pad, so
// like HF's _pad1d a short signal is zero-extended first and the mirror image of those zeros cut off again.
static ggml_tensor* pad_reflect(ggml_context* ctx, ggml_tensor* x, int left, int right) {
    if (left == 0 && right == 0) return x;
    const int64_t max_pad = std::max(left, right);
    if (x->ne[0] > max_pad) return ggml_pad_reflect_1d(ctx, x, left, right);
    const int64_t extra = max_pad - x->ne[0] + 1;
    ggml_tensor* extended = ggml_pad(ctx, x, static_cast<int>(extra), 0, 0, 0);
    ggml_tensor* padded = ggml_pad_reflect_1d(ctx, extended, left, right);
    return ggml_cont(ctx, ggml_view_2d(ctx, padded, padded->ne[0] - extra, padded->ne[1], padded->nb[1], 0));
}

// Adds a per-channel bias [C] to [T, C].
static ggml_tensor* add_bias(ggml_context* ctx, ggml_tensor* x, ggml_tensor* bias) {
    return ggml_add(ctx, x, ggml_reshape_2d(ctx, bias, 1, bias->ne[0]));
}

ggml_tensor* encodec_encoder_conv1d(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x) {
    const encodec_padding pad = encodec_conv1d_padding(conv, x->ne[0]);
    ggml_tensor* padded = pad_reflect(ctx, x, static_cast<int>(pad.left), static_cast<int>(pad.right));

    // im2col in the kernel's type: F32 keeps float32 parity; an F16 kernel takes F16 columns (ggml_conv_1d's path).
    ggml_tensor* weight = conv.weight;  // [k, in, out]
    ggml_tensor* columns =
        ggml_im2col(ctx, weight, padded, conv.stride, 0, 0, 0, conv.dilation, 0, false, weight->type);
    ggml_tensor* out = ggml_mul_mat(ctx, ggml_reshape_2d(ctx, columns, columns->ne[0], columns->ne[1]),
                                    ggml_reshape_2d(ctx, weight, weight->ne[0] * weight->ne[1], weight->ne[2]));
    return add_bias(ctx, out, conv.bias);  // [T', out]
}

ggml_tensor* encodec_encoder_stage(ggml_context* ctx, const encodec_stage& stage, ggml_tensor* x) {
    switch (stage.kind) {
        case encodec_stage_kind::conv:
            if (stage.conv.transposed) break;
            return encodec_encoder_conv1d(ctx, stage.conv, x);
        case encodec_stage_kind::elu:
            return ggml_elu(ctx, x);
        case encodec_stage_kind::resblock: {
            // HF's EncodecResnetBlock, identity shortcut: x + conv2(ELU(conv1(ELU(x)))) (docs/reference-notes.md
            // §10.2).
            ggml_tensor* hidden = encodec_encoder_conv1d(ctx, stage.res.conv1, ggml_elu(ctx, x));
            return ggml_add(ctx, x, encodec_encoder_conv1d(ctx, stage.res.conv2, ggml_elu(ctx, hidden)));
        }
        case encodec_stage_kind::lstm:
            break;
    }
    throw error(error_code::backend, "codec stage " + std::to_string(stage.index) + " is not an encoder stage");
}

}  // namespace mg
