// EnCodec 32 kHz encoding: mono waveform at the codec's sample rate -> codes [n_q, frames] (docs/reference-notes.md
// §10), the audio-prompt path of generation (§9). The SEANet encoder's convolution stages are encoder-conv.h (im2col
// over time-fastest activations, sharing the padding arithmetic and the residual block with the decoder), its LSTM is
// the decoder's (lstm.h); the residual vector quantiser runs as one small graph per call.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "runtime/graph-runner.h"

namespace mg {

struct encodec_encoding {
    int32_t n_q = 0;
    int32_t frames = 0;             // ceil(samples / hop_length)
    std::vector<int32_t> codes;     // [n_q][frames]
    std::vector<float> embeddings;  // encoder output before quantisation, [hidden][frames] (PyTorch [C, T])
};

// Largest input encodec_encode accepts (ggml's padding and im2col take int lengths).
constexpr int64_t encodec_max_samples = 2147483647;

// Whether the encoder's graphs run on the CPU (no GPU, or backend_set::encoder_on_cpu): they then use the CPU's
// fused custom ops. A runner for the encoder, placed accordingly.
bool encodec_encoder_on_cpu(const model& m);
graph_runner new_encoder_runner(const model& m);

// Encodes pcm[n] (mono, finite samples) with the first n_q quantizers. `runner` comes from new_encoder_runner. Throws
// mg::error(invalid_argument) for an empty, too long or non-finite input or an n_q outside [1, quantizer count],
// mg::error(backend) when ggml fails.
encodec_encoding encodec_encode(const model& m, graph_runner& runner, const float* pcm, int64_t n, int32_t n_q);

}  // namespace mg
