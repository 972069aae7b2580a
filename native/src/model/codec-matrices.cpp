// The EnCodec decoder's F32 convolution matrices, laid out once at load (see codec-matrices.h).
#include "model/codec-matrices.h"

#include <ggml-backend.h>

#include <string>
#include <vector>

#include "runtime/cpu-matvec.h"
#include "runtime/error.h"

namespace mg {

int encodec_transposed_taps(const encodec_conv& conv) {
    return (conv.kernel + conv.stride - 1) / conv.stride * conv.stride;
}

// A weight's values as F32, whatever backend holds it (the loader allows F32 and F16 convolution weights).
static std::vector<float> read_f32(const ggml_tensor* t) {
    const int64_t n = ggml_nelements(t);
    std::vector<float> out(static_cast<size_t>(n));
    if (t->type == GGML_TYPE_F32) {
        ggml_backend_tensor_get(t, out.data(), 0, ggml_nbytes(t));
        return out;
    }
    std::vector<ggml_fp16_t> half(static_cast<size_t>(n));
    ggml_backend_tensor_get(t, half.data(), 0, ggml_nbytes(t));
    ggml_fp16_to_fp32_row(half.data(), out.data(), n);
    return out;
}

// `conv`'s weight laid out as its `matrix`, or as its `frames_matrix` when `frames` (layouts in codec-matrices.h).
static std::vector<float> matrix_values(const encodec_conv& conv, bool frames) {
    const std::vector<float> w = read_f32(conv.weight);
    const int64_t k_n = conv.weight->ne[0];
    if (!conv.transposed) {
        const int64_t in = conv.weight->ne[1], out = conv.weight->ne[2];
        std::vector<float> m(w.size());
        for (int64_t o = 0; o < out; ++o) {
            for (int64_t i = 0; i < in; ++i) {
                for (int64_t k = 0; k < k_n; ++k) {
                    m[frames ? (k * in + i) * out + o : (o * k_n + k) * in + i] = w[(o * in + i) * k_n + k];
                }
            }
        }
        return m;
    }
    const int64_t out = conv.weight->ne[1], in = conv.weight->ne[2], stride = conv.stride;
    const int64_t taps = encodec_transposed_taps(conv), shifts = taps / stride;
    std::vector<float> m(static_cast<size_t>(in * out * taps), 0.0f);
    for (int64_t i = 0; i < in; ++i) {
        for (int64_t o = 0; o < out; ++o) {
            for (int64_t k = 0; k < k_n; ++k) {
                const int64_t at = frames ? ((shifts - 1 - k / stride) * in + i) * stride * out + k % stride * out + o
                                          : (k * out + o) * in + i;
                m[at] = w[(i * out + o) * k_n + k];
            }
        }
    }
    return m;
}

bool encodec_direct_conv(const model& m, const encodec_conv& conv) {
    return !m.backends.gpu && cpu_conv_frames() && (conv.transposed ? conv.dilation == 1 : conv.stride == 1);
}

bool encodec_decoder_convolves_directly(const model& m) {
    for (const encodec_stage& s : m.codec.decoder) {
        if (s.kind == encodec_stage_kind::conv && s.conv.frames_matrix) return true;
        if (s.kind == encodec_stage_kind::resblock && s.res.conv1.frames_matrix) return true;
    }
    return false;
}

void encodec_prepare_decoder_matrices(model& m) {
    std::vector<encodec_conv*> convs;
    for (encodec_stage& s : m.codec.decoder) {
        if (s.kind == encodec_stage_kind::conv) convs.push_back(&s.conv);
        if (s.kind == encodec_stage_kind::resblock) {
            convs.push_back(&s.res.conv1);
            convs.push_back(&s.res.conv2);
        }
    }
    ggml_init_params params{convs.size() * ggml_tensor_overhead(), nullptr, true};
    m.codec.matrices_ctx.reset(ggml_init(params));
    if (!m.codec.matrices_ctx) throw error(error_code::backend, "failed to create the codec matrices' context");
    ggml_context* ctx = m.codec.matrices_ctx.get();
    for (encodec_conv* c : convs) {
        const int64_t* ne = c->weight->ne;
        const int64_t taps = c->transposed ? encodec_transposed_taps(*c) : 0;
        if (encodec_direct_conv(m, *c)) {
            c->frames_matrix =
                c->transposed ? ggml_new_tensor_2d(ctx, GGML_TYPE_F32, ne[1] * c->stride, ne[2] * (taps / c->stride))
                              : ggml_new_tensor_2d(ctx, GGML_TYPE_F32, ne[2], ne[1] * ne[0]);
        } else {
            c->matrix = c->transposed ? ggml_new_tensor_2d(ctx, GGML_TYPE_F32, ne[2], ne[1] * taps)
                                      : ggml_new_tensor_2d(ctx, GGML_TYPE_F32, ne[1] * ne[0], ne[2]);
        }
    }
    if (convs.empty()) return;
    ggml_backend_buffer_type_t buft = ggml_backend_get_default_buffer_type(m.backends.main_backend());
    m.codec.matrices.reset(ggml_backend_alloc_ctx_tensors_from_buft(ctx, buft));
    if (!m.codec.matrices) {
        throw error(error_code::backend, "failed to allocate the codec decoder's convolution matrices on " +
                                             std::string(ggml_backend_buft_name(buft)));
    }
    ggml_backend_buffer_set_usage(m.codec.matrices.get(), GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    for (encodec_conv* c : convs) {
        ggml_tensor* t = c->frames_matrix ? c->frames_matrix : c->matrix;
        const std::vector<float> values = matrix_values(*c, c->frames_matrix != nullptr);
        ggml_backend_tensor_set(t, values.data(), 0, ggml_nbytes(t));
    }
}

}  // namespace mg
