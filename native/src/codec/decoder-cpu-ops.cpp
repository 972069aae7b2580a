// The decoder's fused CPU ops (see decoder-cpu-ops.h).
#include "codec/decoder-cpu-ops.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "codec/elu.h"
#include "codec/padding.h"
#include "model/codec-matrices.h"
#include "runtime/cpu-matvec.h"

namespace mg {

namespace {

// [begin, end) of n items for thread ith of nth.
void thread_range(int64_t n, int ith, int nth, int64_t& begin, int64_t& end) {
    const int64_t per_thread = (n + nth - 1) / nth;
    begin = std::min(n, per_thread * ith);
    end = std::min(n, begin + per_thread);
}

const bool elu_on = true;
const bool elu_off = false;

// Output frames per tile of the columns op: the ELU of the frames a tile reads is computed once per tile into a
// small buffer (for a kernel of k, a tile reads tile + k - 1 frames away from the edges).
constexpr int64_t columns_tile = 32;

// The frames rows[0, n) name (of x [C, L]; frame L: zeros), ELU'd when `elu`, as scratch frames from the returned
// first one on.
int64_t tile_frames(const float* x, int64_t C, int64_t L, const int32_t* rows, int64_t n, bool elu,
                    std::vector<float>& scratch) {
    const auto [lo, hi] = std::minmax_element(rows, rows + n);
    const int64_t first = *lo;
    const int64_t last = std::min<int64_t>(*hi, L - 1);
    scratch.resize(static_cast<size_t>((*hi - first + 1) * C));
    if (last >= first) {
        if (elu) {
            encodec_elu_values(x + first * C, scratch.data(), (last - first + 1) * C);
        } else {
            std::memcpy(scratch.data(), x + first * C, static_cast<size_t>((last - first + 1) * C) * sizeof(float));
        }
    }
    if (*hi == L) std::fill(scratch.end() - C, scratch.end(), 0.0f);
    return first;
}

void columns_op(ggml_tensor* dst, int ith, int nth, void* userdata) {
    const bool elu = *static_cast<const bool*>(userdata);
    const ggml_tensor* x = dst->src[0];
    const int32_t* rows = static_cast<const int32_t*>(dst->src[1]->data);
    const int64_t C = x->ne[0];
    const int64_t L = x->ne[1];
    const int64_t kernel = dst->ne[0] / C;
    const float* in = static_cast<const float*>(x->data);
    float* out = static_cast<float*>(dst->data);
    int64_t t_begin, t_end;
    thread_range(dst->ne[1], ith, nth, t_begin, t_end);
    thread_local std::vector<float> scratch;
    for (int64_t t0 = t_begin; t0 < t_end; t0 += columns_tile) {
        const int64_t t1 = std::min(t_end, t0 + columns_tile);
        const int32_t* tile_rows = rows + t0 * kernel;
        const int64_t n_rows = (t1 - t0) * kernel;
        const int64_t first = tile_frames(in, C, L, tile_rows, n_rows, elu, scratch);
        for (int64_t j = 0; j < n_rows; ++j) {
            std::memcpy(out + (t0 * kernel + j) * C, scratch.data() + (tile_rows[j] - first) * C,
                        static_cast<size_t>(C) * sizeof(float));
        }
    }
}

void overlap_add_op(ggml_tensor* dst, int ith, int nth, void* userdata) {
    const encodec_conv& conv = *static_cast<const encodec_conv*>(userdata);
    const ggml_tensor* products = dst->src[0];
    const float* bias = static_cast<const float*>(dst->src[1]->data);
    const int64_t out = dst->ne[0];
    const int64_t stride = conv.stride;
    const int64_t taps = products->ne[0] / out;
    const int64_t shifts = taps / stride;
    const int64_t length = products->ne[1];
    const int64_t trim_left = encodec_conv_transpose1d_trim(conv).left;
    const size_t column = products->nb[1] / sizeof(float);
    const float* p = static_cast<const float*>(products->data);
    float* y = static_cast<float*>(dst->data);
    int64_t n_begin, n_end;
    thread_range(dst->ne[1], ith, nth, n_begin, n_end);
    for (int64_t n = n_begin; n < n_end; ++n) {
        // Untrimmed sample m = u * stride + r sums tap h * stride + r of input frame u - h over h ascending (the
        // unfused graph's shifted views, whose out-of-range frames are zeros), then the bias.
        const int64_t m = n + trim_left;
        const int64_t u = m / stride;
        const int64_t r = m % stride;
        const int64_t h_first = std::max<int64_t>(0, u - length + 1);
        const int64_t h_last = std::min<int64_t>(shifts - 1, u);
        float* to = y + n * out;
        const float* from = p + (u - h_first) * column + (h_first * stride + r) * out;
        for (int64_t o = 0; o < out; ++o) to[o] = from[o];
        for (int64_t h = h_first + 1; h <= h_last; ++h) {
            from = p + (u - h) * column + (h * stride + r) * out;
            for (int64_t o = 0; o < out; ++o) to[o] += from[o];
        }
        for (int64_t o = 0; o < out; ++o) to[o] += bias[o];
    }
}

void bias_op(ggml_tensor* dst, int ith, int nth, void* userdata) {
    const bool elu = *static_cast<const bool*>(userdata);
    const ggml_tensor* product = dst->src[0];
    const float* bias = static_cast<const float*>(dst->src[1]->data);
    const ggml_tensor* residual = dst->src[2];
    const int64_t C = dst->ne[0];
    int64_t t_begin, t_end;
    thread_range(dst->ne[1], ith, nth, t_begin, t_end);
    for (int64_t t = t_begin; t < t_end; ++t) {
        const float* p = static_cast<const float*>(product->data) + t * (product->nb[1] / sizeof(float));
        float* y = static_cast<float*>(dst->data) + t * C;
        for (int64_t c = 0; c < C; ++c) y[c] = p[c] + bias[c];
        if (elu) encodec_elu_values(y, y, C);
        if (residual) {
            const float* x = static_cast<const float*>(residual->data) + t * (residual->nb[1] / sizeof(float));
            for (int64_t c = 0; c < C; ++c) y[c] = x[c] + y[c];
        }
    }
}

// encodec_cpu_conv's options and the stride its bias repeats with, in the node's op_params after ggml's own custom
// op parameters (3 pointers).
enum conv_flags : int32_t { conv_elu_x = 1, conv_elu_y = 2, conv_gather = 4, conv_residual = 8, conv_columns = 16 };
constexpr int conv_flags_param = 6;
constexpr int conv_stride_param = 7;
static_assert(3 * sizeof(void*) <= conv_flags_param * sizeof(int32_t), "ggml's custom op parameters overlap the flags");

// Output frames per tile of the direct convolution: the padded input frames of a tile stay in L1 / L2 while the
// kernel streams its matrix across them.
constexpr int64_t conv_tile = 64;

void conv_op(ggml_tensor* dst, int ith, int nth, void*) {
    const int32_t flags = reinterpret_cast<const int32_t*>(dst->op_params)[conv_flags_param];
    const int32_t stride = reinterpret_cast<const int32_t*>(dst->op_params)[conv_stride_param];
    const ggml_tensor* x = dst->src[0];
    const ggml_tensor* w = dst->src[1];
    const float* bias = static_cast<const float*>(dst->src[2]->data);
    thread_local std::vector<float> repeated_bias;  // a polyphase ConvTranspose1d's: the bias once per phase
    if (stride > 1) {
        const int64_t n = dst->ne[0] / stride;
        repeated_bias.resize(static_cast<size_t>(dst->ne[0]));
        for (int32_t r = 0; r < stride; ++r) std::copy(bias, bias + n, repeated_bias.begin() + r * n);
        bias = repeated_bias.data();
    }
    const int32_t* frames = flags & conv_gather ? static_cast<const int32_t*>(dst->src[3]->data) : nullptr;
    const ggml_tensor* residual = flags & conv_residual ? dst->src[flags & conv_gather ? 4 : 3] : nullptr;
    const int64_t C = x->ne[0], L = x->ne[1], out = dst->ne[0], T = dst->ne[1], n_k = w->ne[1];
    const int64_t span = n_k / C;  // input frames per output frame
    const float* in = static_cast<const float*>(x->data);
    float* y = static_cast<float*>(dst->data);
    const conv_frames_kernel conv_frames = cpu_conv_frames();

    // Work items: tiles of frames, each split into parts of the output channels (multiples of 64) when there are too
    // few tiles to keep every thread busy.
    const int64_t n_tiles = (T + conv_tile - 1) / conv_tile;
    int64_t parts = 1;
    while (n_tiles * parts < 4 * nth && out >= 128 * parts) parts *= 2;
    const int64_t part_size = ((out + parts - 1) / parts + 63) & ~int64_t{63};
    int64_t begin, end;
    thread_range(n_tiles * parts, ith, nth, begin, end);
    thread_local std::vector<float> scratch;
    int64_t padded_tile = -1;
    for (int64_t item = begin; item < end; ++item) {
        const int64_t tile = item / parts;
        const int64_t o0 = std::min(out, item % parts * part_size), o1 = std::min(out, o0 + part_size);
        const int64_t t0 = tile * conv_tile, t1 = std::min(T, t0 + conv_tile);
        if (o0 == o1) continue;
        const float* source = in + t0 * C;  // frame t0's column: n_k values from here on, C apart frame by frame
        int64_t step = C;
        if (frames || flags & conv_elu_x) {
            // The tile's padded frames, or with gathered columns (a dilated convolution) span frames per output.
            const bool columns = flags & conv_columns;
            const int64_t n = columns ? (t1 - t0) * span : t1 - t0 + span - 1;
            const int32_t* first = frames ? frames + (columns ? t0 * span : t0) : nullptr;
            if (tile != padded_tile) {
                scratch.resize(static_cast<size_t>(n * C));
                for (int64_t j = 0; j < n; ++j) {
                    const int64_t frame = first ? first[j] : t0 + j;
                    float* to = scratch.data() + j * C;
                    if (frame == L) {
                        std::fill(to, to + C, 0.0f);
                    } else if (flags & conv_elu_x) {
                        encodec_elu_values(in + frame * C, to, C);
                    } else {
                        std::memcpy(to, in + frame * C, static_cast<size_t>(C) * sizeof(float));
                    }
                }
                padded_tile = tile;
            }
            source = scratch.data();
            if (columns) step = n_k;
        }
        float* to = y + t0 * out + o0;
        conv_frames(static_cast<const float*>(w->data) + o0, out, bias + o0, o1 - o0, n_k, source, step, to, out,
                    t1 - t0);
        for (int64_t t = 0; t < t1 - t0; ++t) {
            float* row = to + t * out;
            if (flags & conv_elu_y) encodec_elu_values(row, row, o1 - o0);
            if (residual) {
                const float* r =
                    static_cast<const float*>(residual->data) + (t0 + t) * (residual->nb[1] / sizeof(float)) + o0;
                for (int64_t o = 0; o < o1 - o0; ++o) row[o] = r[o] + row[o];
            }
        }
    }
}

}  // namespace

ggml_tensor* encodec_cpu_conv(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* x, ggml_tensor* frames,
                              bool columns, bool elu_x, bool elu_y, ggml_tensor* residual) {
    const int64_t out = conv.frames_matrix->ne[0];
    const int64_t span = conv.frames_matrix->ne[1] / x->ne[0];
    const int64_t length = !frames ? x->ne[1] : columns ? frames->ne[0] / span : frames->ne[0] - span + 1;
    ggml_tensor* args[] = {ggml_is_contiguous(x) ? x : ggml_cont(ctx, x), conv.frames_matrix, conv.bias, frames,
                           residual};
    int n_args = 3;
    int32_t flags = (elu_x ? conv_elu_x : 0) | (elu_y ? conv_elu_y : 0) | (frames && columns ? conv_columns : 0);
    if (frames) {
        flags |= conv_gather;
        ++n_args;
    } else {
        args[3] = residual;
    }
    if (residual) {
        flags |= conv_residual;
        ++n_args;
    }
    ggml_tensor* y =
        ggml_custom_4d(ctx, GGML_TYPE_F32, out, length, 1, 1, args, n_args, conv_op, GGML_N_TASKS_MAX, nullptr);
    reinterpret_cast<int32_t*>(y->op_params)[conv_flags_param] = flags;
    reinterpret_cast<int32_t*>(y->op_params)[conv_stride_param] = conv.transposed ? conv.stride : 1;
    return y;
}

ggml_tensor* encodec_cpu_columns(ggml_context* ctx, ggml_tensor* x, ggml_tensor* rows, int64_t kernel, bool elu) {
    ggml_tensor* args[] = {ggml_is_contiguous(x) ? x : ggml_cont(ctx, x), rows};
    return ggml_custom_4d(ctx, GGML_TYPE_F32, x->ne[0] * kernel, rows->ne[0] / kernel, 1, 1, args, 2, columns_op,
                          GGML_N_TASKS_MAX, const_cast<bool*>(elu ? &elu_on : &elu_off));
}

ggml_tensor* encodec_cpu_overlap_add(ggml_context* ctx, const encodec_conv& conv, ggml_tensor* products) {
    const int64_t taps = encodec_transposed_taps(conv);
    const int64_t out = products->ne[0] / taps;
    ggml_tensor* args[] = {products, conv.bias};
    return ggml_custom_4d(ctx, GGML_TYPE_F32, out, products->ne[1] * conv.stride, 1, 1, args, 2, overlap_add_op,
                          GGML_N_TASKS_MAX, const_cast<encodec_conv*>(&conv));
}

ggml_tensor* encodec_cpu_bias(ggml_context* ctx, ggml_tensor* product, ggml_tensor* bias, bool elu,
                              ggml_tensor* residual) {
    ggml_tensor* args[] = {product, bias, residual};
    return ggml_custom_4d(ctx, GGML_TYPE_F32, product->ne[0], product->ne[1], 1, 1, args, residual ? 3 : 2, bias_op,
                          GGML_N_TASKS_MAX, const_cast<bool*>(elu ? &elu_on : &elu_off));
}

}  // namespace mg
