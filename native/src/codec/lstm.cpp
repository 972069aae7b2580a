// EnCodec's stacked LSTM (see lstm.h): chunks of unrolled time steps as ggml graphs, h/c carried between them.
#include "codec/lstm.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/error.h"

namespace mg {

// Graph nodes one time step of one layer adds (14 ops and views + one concat), and the per-chunk rest
// (inputs, input projections, skip connection) with room to spare.
constexpr size_t nodes_per_step = 16;
constexpr size_t nodes_per_chunk = 64;

encodec_lstm_state encodec_lstm_initial_state(const encodec_lstm& lstm, int64_t channels) {
    encodec_lstm_state state;
    state.h.assign(lstm.layers.size(), std::vector<float>(static_cast<size_t>(channels), 0.0f));
    state.c = state.h;
    return state;
}

// Stacks [C] columns into [C, n] with a balanced concat tree: O(n log n) copied bytes instead of O(n^2).
static ggml_tensor* stack_columns(ggml_context* ctx, const std::vector<ggml_tensor*>& cols, size_t lo, size_t hi) {
    if (hi - lo == 1) return cols[lo];
    const size_t mid = lo + (hi - lo) / 2;
    return ggml_concat(ctx, stack_columns(ctx, cols, lo, mid), stack_columns(ctx, cols, mid, hi), 1);
}

// The state tensors of one layer in one chunk graph: inputs h0/c0, results h/c after the chunk's last step.
struct layer_state_tensors {
    ggml_tensor* h0 = nullptr;
    ggml_tensor* c0 = nullptr;
    ggml_tensor* h = nullptr;
    ggml_tensor* c = nullptr;
};

// The cell update of one step on the CPU, fused into one node (ggml's ops take seven, each a thread barrier, for
// vectors of a few thousand elements): gates = W_hh h + projection in PyTorch order i, f, g, o, and c_prev ->
// dst[0, C) = h, dst[C, 2C) = c.
static void lstm_cell(ggml_tensor* dst, const ggml_tensor* recurrent, const ggml_tensor* projected,
                      const ggml_tensor* c_prev, int ith, int nth, void*) {
    const int64_t channels = c_prev->ne[0];
    const int64_t per_thread = (channels + nth - 1) / nth;
    const int64_t begin = std::min(channels, per_thread * ith);
    const int64_t end = std::min(channels, begin + per_thread);
    const float* r = static_cast<const float*>(recurrent->data);
    const float* p = static_cast<const float*>(projected->data);
    const float* c0 = static_cast<const float*>(c_prev->data);
    float* out = static_cast<float*>(dst->data);
    auto sigmoid = [](float x) { return 1.0f / (1.0f + std::exp(-x)); };
    for (int64_t j = begin; j < end; ++j) {
        const float i = sigmoid(r[j] + p[j]);
        const float f = sigmoid(r[channels + j] + p[channels + j]);
        const float g = std::tanh(r[2 * channels + j] + p[2 * channels + j]);
        const float o = sigmoid(r[3 * channels + j] + p[3 * channels + j]);
        const float c = f * c0[j] + i * g;
        out[j] = o * std::tanh(c);
        out[channels + j] = c;
    }
}

// One layer over a chunk: x [C, n] -> hidden states [C, n]. `cpu`: the graph runs on the CPU alone.
static ggml_tensor* lstm_layer(ggml_context* ctx, const encodec_lstm_layer& w, ggml_tensor* x, layer_state_tensors& st,
                               bool cpu) {
    const int64_t channels = x->ne[0];
    // Input projections of every step in one mat-mat, both biases folded in: [4C, n]. A single frame gets a zero
    // column beside it: ggml's tinyBLAS skips one-column products, whose fallback sums in another order, and
    // streaming (often one frame per chunk) must stay bitwise equal to whole-clip decoding.
    ggml_tensor* frames = x->ne[1] == 1 ? ggml_pad(ctx, x, 0, 1, 0, 0) : x;
    ggml_tensor* projected = ggml_add(ctx, ggml_add(ctx, ggml_mul_mat(ctx, w.w_ih, frames), w.b_ih), w.b_hh);
    auto gate = [&](ggml_tensor* v, int k) {  // slice k of the i, f, g, o blocks
        return ggml_view_1d(ctx, v, channels, k * channels * ggml_element_size(v));
    };

    ggml_tensor* h = st.h0;
    ggml_tensor* c = st.c0;
    std::vector<ggml_tensor*> outputs;
    for (int64_t t = 0; t < x->ne[1]; ++t) {
        ggml_tensor* recurrent = ggml_mul_mat(ctx, w.w_hh, h);
        ggml_tensor* step_projection = ggml_view_1d(ctx, projected, 4 * channels, t * projected->nb[1]);
        if (cpu) {
            ggml_tensor* cell =
                ggml_map_custom3(ctx, recurrent, step_projection, c, lstm_cell, GGML_N_TASKS_MAX, nullptr);
            h = gate(cell, 0);
            c = gate(cell, 1);
        } else {
            ggml_tensor* gates = ggml_add(ctx, recurrent, step_projection);
            // One sigmoid over all four blocks (i, f, o use it) is one node instead of three.
            ggml_tensor* sig = ggml_sigmoid(ctx, gates);
            ggml_tensor* candidate = ggml_tanh(ctx, gate(gates, 2));
            c = ggml_add(ctx, ggml_mul(ctx, gate(sig, 1), c), ggml_mul(ctx, gate(sig, 0), candidate));
            h = ggml_mul(ctx, gate(sig, 3), ggml_tanh(ctx, c));
        }
        outputs.push_back(h);
    }
    st.h = h;
    st.c = c;
    return stack_columns(ctx, outputs, 0, outputs.size());
}

void encodec_lstm_forward(graph_runner& runner, const encodec_lstm& lstm, int64_t channels, float* x, int64_t frames,
                          encodec_lstm_state& state, bool cpu) {
    const size_t n_layers = lstm.layers.size();
    if (runner.max_nodes() < nodes_per_chunk + nodes_per_step * n_layers) {
        throw error(error_code::backend,
                    "graph runner of " + std::to_string(runner.max_nodes()) + " nodes is too small for one LSTM step");
    }
    const int64_t steps = static_cast<int64_t>((runner.max_nodes() - nodes_per_chunk) / (nodes_per_step * n_layers));
    const size_t state_bytes = static_cast<size_t>(channels) * sizeof(float);

    for (int64_t t0 = 0; t0 < frames; t0 += steps) {
        const int64_t n = std::min(steps, frames - t0);
        float* chunk = x + t0 * channels;
        const size_t chunk_bytes = static_cast<size_t>(n) * state_bytes;
        ggml_tensor* input = nullptr;
        ggml_tensor* output = nullptr;
        std::vector<layer_state_tensors> st(n_layers);

        runner.run(
            [&](ggml_context* ctx) {
                ggml_cgraph* graph = ggml_new_graph_custom(ctx, runner.max_nodes(), false);
                input = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, channels, n);
                ggml_set_input(input);
                ggml_tensor* y = input;
                for (size_t l = 0; l < n_layers; ++l) {
                    st[l].h0 = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, channels);
                    st[l].c0 = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, channels);
                    ggml_set_input(st[l].h0);
                    ggml_set_input(st[l].c0);
                    y = lstm_layer(ctx, lstm.layers[l], y, st[l], cpu);
                    ggml_set_output(st[l].h);
                    ggml_set_output(st[l].c);
                    ggml_build_forward_expand(graph, st[l].c);
                }
                output = ggml_add(ctx, y, input);  // skip connection
                ggml_set_output(output);
                ggml_build_forward_expand(graph, output);
                return graph;
            },
            [&] {
                ggml_backend_tensor_set(input, chunk, 0, chunk_bytes);
                for (size_t l = 0; l < n_layers; ++l) {
                    ggml_backend_tensor_set(st[l].h0, state.h[l].data(), 0, state_bytes);
                    ggml_backend_tensor_set(st[l].c0, state.c[l].data(), 0, state_bytes);
                }
            },
            [&] {
                ggml_backend_tensor_get(output, chunk, 0, chunk_bytes);
                for (size_t l = 0; l < n_layers; ++l) {
                    ggml_backend_tensor_get(st[l].h, state.h[l].data(), 0, state_bytes);
                    ggml_backend_tensor_get(st[l].c, state.c[l].data(), 0, state_bytes);
                }
            });
    }
}

}  // namespace mg
