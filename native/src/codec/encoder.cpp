// The EnCodec encoder (see encoder.h): SEANet convolution graphs, LSTM, then the residual vector quantiser.
#include "codec/encoder.h"

#include <cmath>
#include <string>

#include "codec/decoder.h"
#include "codec/encoder-conv.h"
#include "codec/lstm.h"
#include "runtime/error.h"

namespace mg {

bool encodec_encoder_on_cpu(const model& m) { return !m.backends.gpu || m.backends.encoder_on_cpu(); }

graph_runner new_encoder_runner(const model& m) {
    return graph_runner(m.backends, encodec_graph_nodes, m.backends.encoder_on_cpu());
}

static void check_request(const codec_hparams& hp, const float* pcm, int64_t n, int32_t n_q) {
    if (n < 1 || n > encodec_max_samples) {
        throw error(error_code::invalid_argument, "expected 1 to " + std::to_string(encodec_max_samples) +
                                                      " audio samples but received " + std::to_string(n));
    }
    if (n_q < 1 || static_cast<uint32_t>(n_q) > hp.n_quantizers) {
        throw error(error_code::invalid_argument, "expected 1 to " + std::to_string(hp.n_quantizers) +
                                                      " codebooks for the codec but received " + std::to_string(n_q));
    }
    for (int64_t i = 0; i < n; ++i) {
        // A NaN would silently turn into code 0 through argmax; an infinity into NaN activations.
        if (!std::isfinite(pcm[i])) {
            throw error(error_code::invalid_argument, "audio sample " + std::to_string(i) + " is not finite");
        }
    }
}

// Runs encoder stages [begin, end) (none of them an LSTM) as one graph over act ([T][C], channel fastest).
static void run_conv_stages(const model& m, graph_runner& runner, size_t begin, size_t end, encodec_activations& act) {
    const std::vector<encodec_stage>& stages = m.codec.encoder;
    ggml_tensor* input = nullptr;
    ggml_tensor* output = nullptr;
    runner.run(
        [&](ggml_context* ctx) {
            ggml_cgraph* graph = ggml_new_graph_custom(ctx, runner.max_nodes(), false);
            input = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, act.channels, act.length);
            ggml_set_input(input);
            ggml_tensor* x = ggml_cont(ctx, ggml_transpose(ctx, input));  // [T, C] for the convolutions
            for (size_t s = begin; s < end; ++s) x = encodec_encoder_stage(ctx, stages[s], x);
            output = ggml_cont(ctx, ggml_transpose(ctx, x));  // channel fastest again
            ggml_set_output(output);
            ggml_build_forward_expand(graph, output);
            return graph;
        },
        [&] { ggml_backend_tensor_set(input, act.data.data(), 0, ggml_nbytes(input)); },
        [&] {
            act.length = output->ne[1];
            act.channels = output->ne[0];
            act.data.resize(static_cast<size_t>(ggml_nelements(output)));
            ggml_backend_tensor_get(output, act.data.data(), 0, ggml_nbytes(output));
        });
}

// Residual vector quantisation of embeddings [frames][hidden] in HF's float32 form: quantizer q picks
// argmax_e -(|r|^2 - 2 r.e + |e|^2) for the residual r, which then loses that codebook row.
static std::vector<int32_t> rvq_encode(const model& m, graph_runner& runner, const encodec_activations& act,
                                       int32_t n_q) {
    const int64_t frames = act.length;
    ggml_tensor* input = nullptr;
    std::vector<ggml_tensor*> picked(static_cast<size_t>(n_q));
    std::vector<int32_t> codes(static_cast<size_t>(n_q * frames));
    runner.run(
        [&](ggml_context* ctx) {
            ggml_cgraph* graph = ggml_new_graph_custom(ctx, runner.max_nodes(), false);
            input = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, act.channels, frames);
            ggml_set_input(input);
            ggml_tensor* residual = input;
            for (int32_t q = 0; q < n_q; ++q) {
                ggml_tensor* embed = m.codec.rvq[static_cast<size_t>(q)];       // [hidden, codebook_size]
                ggml_tensor* dot = ggml_mul_mat(ctx, embed, residual);          // [codebook_size, frames]
                ggml_tensor* r2 = ggml_sum_rows(ctx, ggml_sqr(ctx, residual));  // [1, frames]
                ggml_tensor* e2 = ggml_reshape_2d(ctx, ggml_sum_rows(ctx, ggml_sqr(ctx, embed)), embed->ne[1], 1);
                ggml_tensor* dist = ggml_add(ctx, ggml_add(ctx, ggml_scale(ctx, dot, -2.0f), r2), e2);
                ggml_tensor* index = ggml_argmax(ctx, ggml_neg(ctx, dist));  // I32 [frames], first of ties
                picked[static_cast<size_t>(q)] = index;
                ggml_set_output(index);
                ggml_build_forward_expand(graph, index);
                if (q + 1 < n_q) residual = ggml_sub(ctx, residual, ggml_get_rows(ctx, embed, index));
            }
            return graph;
        },
        [&] { ggml_backend_tensor_set(input, act.data.data(), 0, ggml_nbytes(input)); },
        [&] {
            for (int32_t q = 0; q < n_q; ++q) {
                ggml_backend_tensor_get(picked[static_cast<size_t>(q)], codes.data() + q * frames, 0,
                                        static_cast<size_t>(frames) * sizeof(int32_t));
            }
        });
    return codes;
}

encodec_encoding encodec_encode(const model& m, graph_runner& runner, const float* pcm, int64_t n, int32_t n_q) {
    const codec_hparams& hp = m.hparams.codec;
    check_request(hp, pcm, n, n_q);
    const std::vector<encodec_stage>& stages = m.codec.encoder;

    // One channel: channel fastest and time fastest are the same layout.
    encodec_activations act;
    act.channels = 1;
    act.length = n;
    act.data.assign(pcm, pcm + n);
    size_t next = 0;
    while (next < stages.size()) {
        if (stages[next].kind == encodec_stage_kind::lstm) {
            const encodec_lstm& lstm = stages[next].lstm;
            encodec_lstm_state state = encodec_lstm_initial_state(lstm, act.channels);
            encodec_lstm_forward(runner, lstm, act.channels, act.data.data(), act.length, state,
                                 encodec_encoder_on_cpu(m));
            ++next;
            continue;
        }
        size_t end = next;
        while (end < stages.size() && stages[end].kind != encodec_stage_kind::lstm) ++end;
        run_conv_stages(m, runner, next, end, act);
        next = end;
    }

    // Every strided convolution yields ceil(len / stride) frames, so the encoder yields ceil(n / hop).
    const auto hop = static_cast<int64_t>(hp.hop_length());
    const int64_t expected = (n + hop - 1) / hop;
    if (act.channels != static_cast<int64_t>(hp.hidden_size) || act.length != expected) {
        throw error(error_code::model_invalid, "the codec encoder produced " + std::to_string(act.channels) + " x " +
                                                   std::to_string(act.length) + " values instead of " +
                                                   std::to_string(hp.hidden_size) + " x " + std::to_string(expected));
    }

    encodec_encoding result;
    result.n_q = n_q;
    result.frames = static_cast<int32_t>(act.length);
    result.codes = rvq_encode(m, runner, act, n_q);
    result.embeddings.resize(act.data.size());
    for (int64_t t = 0; t < act.length; ++t) {
        for (int64_t c = 0; c < act.channels; ++c) {
            result.embeddings[c * act.length + t] = act.data[t * act.channels + c];
        }
    }
    return result;
}

}  // namespace mg
