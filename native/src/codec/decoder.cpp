// The one-shot EnCodec decoder (see decoder.h): code checks, the RVQ + convolution graphs between LSTMs, taps, and
// the whole-clip decode through the streaming decoder's windows.
#include "codec/decoder.h"

#include <algorithm>
#include <string>

#include "codec/decoder-conv.h"
#include "codec/lstm.h"
#include "codec/stream.h"
#include "codec/workspace.h"
#include "runtime/error.h"

namespace mg {

void encodec_check_codes(const codec_hparams& hp, const int32_t* codes, int32_t n_q, int32_t frames) {
    if (n_q < 1 || static_cast<uint32_t>(n_q) > hp.n_quantizers) {
        throw error(error_code::invalid_argument, "expected 1 to " + std::to_string(hp.n_quantizers) +
                                                      " codebooks for the codec but received " + std::to_string(n_q));
    }
    const int64_t count = int64_t{n_q} * frames;
    for (int64_t i = 0; i < count; ++i) {
        if (codes[i] < 0 || static_cast<uint32_t>(codes[i]) >= hp.codebook_size) {
            throw error(error_code::invalid_argument,
                        "code " + std::to_string(codes[i]) + " at codebook " + std::to_string(i / frames) + ", frame " +
                            std::to_string(i % frames) + " is outside [0, " + std::to_string(hp.codebook_size) + ")");
        }
    }
}

static void check_request(const codec_hparams& hp, const std::vector<encodec_stage>& stages, const int32_t* codes,
                          int32_t n_q, int32_t frames, const std::vector<encodec_tap>* taps) {
    // frames * hop_length samples must stay addressable by int64 / ggml's dimensions on every platform.
    const int64_t max_frames = (int64_t{1} << 31) / static_cast<int64_t>(hp.hop_length());
    if (frames < 1 || frames > max_frames) {
        throw error(error_code::invalid_argument,
                    "expected 1 to " + std::to_string(max_frames) + " frames but received " + std::to_string(frames));
    }
    encodec_check_codes(hp, codes, n_q, frames);
    if (!taps) return;
    for (const encodec_tap& tap : *taps) {
        if (tap.stage != encodec_tap_quantized && (tap.stage < 0 || static_cast<size_t>(tap.stage) >= stages.size())) {
            throw error(error_code::invalid_argument, "decoder stage " + std::to_string(tap.stage) +
                                                          " does not exist (the decoder has " +
                                                          std::to_string(stages.size()) + " stages)");
        }
    }
}

static encodec_tap* find_tap(std::vector<encodec_tap>* taps, int stage) {
    if (!taps) return nullptr;
    auto it = std::find_if(taps->begin(), taps->end(), [&](const encodec_tap& t) { return t.stage == stage; });
    return it == taps->end() ? nullptr : &*it;
}

// A tensor [T, C] (PyTorch [C, T] order) to read into a tap after the graph ran.
struct pending_tap {
    encodec_tap* tap;
    ggml_tensor* tensor;
};

static void read_tap(const pending_tap& p) {
    p.tap->length = p.tensor->ne[0];
    p.tap->channels = p.tensor->ne[1];
    p.tap->data.resize(static_cast<size_t>(ggml_nelements(p.tensor)));
    ggml_backend_tensor_get(p.tensor, p.tap->data.data(), 0, ggml_nbytes(p.tensor));
}

bool encodec_decoder_on_cpu(const model& m) { return !m.backends.gpu; }

graph_runner new_decoder_runner(const model& m) { return graph_runner(m.backends, encodec_graph_nodes); }

void encodec_run_conv_stages(const model& m, graph_runner& runner, const int32_t* codes, int32_t n_q, int32_t frames,
                             size_t begin, size_t end, encodec_activations& act, std::vector<encodec_tap>* taps) {
    const std::vector<encodec_stage>& stages = m.codec.decoder;
    ggml_tensor* input = nullptr;
    ggml_tensor* output = nullptr;
    encodec_decoder_graph stage_graph(encodec_decoder_on_cpu(m));
    std::vector<pending_tap> pending;

    runner.run(
        [&](ggml_context* ctx) {
            ggml_cgraph* graph = ggml_new_graph_custom(ctx, runner.max_nodes(), false);
            ggml_tensor* x = nullptr;  // [C, T], channel fastest throughout
            if (codes) {
                input = ggml_new_tensor_2d(ctx, GGML_TYPE_I32, frames, n_q);
                ggml_set_input(input);
                x = encodec_rvq_decode(ctx, m.codec.rvq, input);
            } else {
                input = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, act.channels, act.length);
                ggml_set_input(input);
                x = input;
            }
            // Taps are in PyTorch's [C, T] order: transposed copies, made only when asked for.
            auto tap = [&](int stage, ggml_tensor* t) {
                if (encodec_tap* p = find_tap(taps, stage))
                    pending.push_back({p, ggml_cont(ctx, ggml_transpose(ctx, t))});
            };
            if (codes) tap(encodec_tap_quantized, x);
            for (size_t s = begin; s < end; ++s) {
                // An ELU stage right before a Conv1d, or a ConvTranspose1d that runs directly: on the CPU the
                // convolution's gather applies it (no tap wants the ELU's own output).
                const encodec_conv* next =
                    s + 1 < end && stages[s + 1].kind == encodec_stage_kind::conv ? &stages[s + 1].conv : nullptr;
                if (stage_graph.cpu() && stages[s].kind == encodec_stage_kind::elu && next &&
                    (!next->transposed || next->frames_matrix) && !find_tap(taps, static_cast<int>(s))) {
                    ++s;
                    x = next->transposed ? encodec_decoder_conv_transpose1d(ctx, *next, x, true, stage_graph)
                                         : encodec_decoder_conv1d(ctx, *next, x, true, stage_graph);
                } else {
                    x = encodec_decoder_stage(ctx, stages[s], x, stage_graph);
                }
                tap(static_cast<int>(s), x);
            }
            output = x;
            for (const pending_tap& p : pending) {
                ggml_set_output(p.tensor);
                ggml_build_forward_expand(graph, p.tensor);
            }
            ggml_set_output(output);
            ggml_build_forward_expand(graph, output);
            return graph;
        },
        [&] {
            if (codes) {
                ggml_backend_tensor_set(input, codes, 0, ggml_nbytes(input));
            } else {
                ggml_backend_tensor_set(input, act.data.data(), 0, ggml_nbytes(input));
            }
            stage_graph.upload();
        },
        [&] {
            act.channels = output->ne[0];
            act.length = output->ne[1];
            act.data.resize(static_cast<size_t>(ggml_nelements(output)));
            ggml_backend_tensor_get(output, act.data.data(), 0, ggml_nbytes(output));
            for (const pending_tap& p : pending) read_tap(p);
        });
}

// PyTorch [C, T] order for a tap of host activations.
static void tap_activations(encodec_tap& tap, const encodec_activations& act) {
    tap.channels = act.channels;
    tap.length = act.length;
    tap.data.resize(act.data.size());
    for (int64_t t = 0; t < act.length; ++t) {
        for (int64_t c = 0; c < act.channels; ++c) tap.data[c * act.length + t] = act.data[t * act.channels + c];
    }
}

// Pushes the codes through a streaming decoder encodec_whole_clip_chunk_frames at a time (codes[q * frames + t]
// becomes each chunk's codes[q * n + t]).
static std::vector<float> decode_in_chunks(const model& m, encodec_workspace& workspace, const int32_t* codes,
                                           int32_t n_q, int32_t frames) {
    encodec_stream stream(m, n_q, workspace);
    std::vector<float> audio;
    audio.reserve(static_cast<size_t>(frames) * m.hparams.codec.hop_length());
    std::vector<int32_t> chunk;
    for (int32_t t0 = 0; t0 < frames; t0 += encodec_whole_clip_chunk_frames) {
        const int32_t n = std::min(encodec_whole_clip_chunk_frames, frames - t0);
        chunk.resize(static_cast<size_t>(n_q) * n);
        for (int32_t q = 0; q < n_q; ++q) {
            std::copy_n(codes + int64_t{q} * frames + t0, n, chunk.begin() + int64_t{q} * n);
        }
        const std::vector<float> samples = stream.push(chunk.data(), n);
        audio.insert(audio.end(), samples.begin(), samples.end());
    }
    const std::vector<float> rest = stream.finish();
    audio.insert(audio.end(), rest.begin(), rest.end());
    return audio;
}

std::vector<float> encodec_decode(const model& m, encodec_workspace& workspace, const int32_t* codes, int32_t n_q,
                                  int32_t frames, std::vector<encodec_tap>* taps) {
    const std::vector<encodec_stage>& stages = m.codec.decoder;
    check_request(m.hparams.codec, stages, codes, n_q, frames, taps);
    const int64_t expected = int64_t{frames} * static_cast<int64_t>(m.hparams.codec.hop_length());
    if ((!taps || taps->empty()) && encodec_decoder_on_cpu(m)) {
        std::vector<float> audio = decode_in_chunks(m, workspace, codes, n_q, frames);
        if (static_cast<int64_t>(audio.size()) != expected) {
            throw error(error_code::model_invalid, "the codec decoder produced " + std::to_string(audio.size()) +
                                                       " samples instead of " + std::to_string(expected));
        }
        return audio;
    }

    // Convolution stages run as one graph each stretch between LSTMs; the first graph also decodes the RVQ
    // (even if it had no convolution stage to run).
    graph_runner& runner = workspace.runner;
    encodec_activations act;
    size_t next = 0;
    bool first = true;
    while (first || next < stages.size()) {
        if (!first && stages[next].kind == encodec_stage_kind::lstm) {
            const encodec_lstm& lstm = stages[next].lstm;
            encodec_lstm_state state = encodec_lstm_initial_state(lstm, act.channels);
            encodec_lstm_forward(runner, lstm, act.channels, act.data.data(), act.length, state,
                                 encodec_decoder_on_cpu(m));
            if (encodec_tap* tap = find_tap(taps, static_cast<int>(next))) tap_activations(*tap, act);
            ++next;
            continue;
        }
        size_t end = next;
        while (end < stages.size() && stages[end].kind != encodec_stage_kind::lstm) ++end;
        encodec_run_conv_stages(m, runner, first ? codes : nullptr, n_q, frames, next, end, act, taps);
        first = false;
        next = end;
    }

    if (act.channels != 1 || act.length != expected) {
        throw error(error_code::model_invalid, "the codec decoder produced " + std::to_string(act.channels) + " x " +
                                                   std::to_string(act.length) + " samples instead of 1 x " +
                                                   std::to_string(expected));
    }
    return std::move(act.data);
}

}  // namespace mg
