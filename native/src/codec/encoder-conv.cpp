#include "codec/encoder-conv.h"

#include <algorithm>

namespace mg {

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

ggml_tensor* encodec_conv1d(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x) {
    const int64_t length = x->ne[0];
    const int64_t stride = conv.stride;
    const int64_t k_eff = int64_t{conv.kernel - 1} * conv.dilation + 1;
    const int64_t pad_total = k_eff - stride;
    // HF's get_extra_padding_for_conv1d: pad the right end so that the last window is complete.
    const int64_t n_frames = (length + stride - 1) / stride - 1;  // ceil((length - k_eff + pad_total) / s + 1) - 1
    const int64_t extra = n_frames * stride + k_eff - pad_total - length;
    const int64_t right = pad_total / 2;
    const int64_t left = pad_total - right;
    ggml_tensor* padded = pad_reflect(ctx, x, static_cast<int>(left), static_cast<int>(right + extra));

    // im2col in the kernel's type: F32 keeps float32 parity; an F16 kernel takes F16 columns (ggml_conv_1d's path).
    ggml_tensor* weight = conv.weight;  // [k, in, out]
    ggml_tensor* columns =
        ggml_im2col(ctx, weight, padded, conv.stride, 0, 0, 0, conv.dilation, 0, false, weight->type);
    ggml_tensor* out = ggml_mul_mat(ctx, ggml_reshape_2d(ctx, columns, columns->ne[0], columns->ne[1]),
                                    ggml_reshape_2d(ctx, weight, weight->ne[0] * weight->ne[1], weight->ne[2]));
    return add_bias(ctx, out, conv.bias);  // [T', out]
}

ggml_tensor* encodec_residual_block(ggml_context* ctx, const encodec_resblock& block, ggml_tensor* x) {
    ggml_tensor* hidden = encodec_conv1d(ctx, block.conv1, ggml_elu(ctx, x));
    ggml_tensor* delta = encodec_conv1d(ctx, block.conv2, ggml_elu(ctx, hidden));
    return ggml_add(ctx, x, delta);
}

}  // namespace mg
