// EnCodec 32 kHz decoding: codes [n_q, frames] -> mono waveform (docs/reference-notes.md §10).
// The decoder runs as a few ggml graphs: one per run of convolution stages (RVQ decode included in the first),
// and the LSTM stages in between as chunks of unrolled time steps (lstm.h). Activations cross graph
// boundaries through host memory in channel-fastest layout ([frames][channels]); the streaming decoder
// (stream.h) runs the same stage graphs on windows of that host memory, and a whole clip is decoded through it.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "runtime/graph-runner.h"

namespace mg {

struct encodec_workspace;  // codec/workspace.h

// Graph size (nodes) a runner for encodec_decode should be created with: the convolution graphs need a few
// hundred nodes, the LSTM fills the rest with as many unrolled time steps per graph as fit.
constexpr size_t encodec_graph_nodes = 8192;

// Whether the decoder's graphs run on the CPU (no GPU): they then use the CPU's fused custom ops. A runner for the
// decoder (whole-clip or streaming), on the model's main backend.
bool encodec_decoder_on_cpu(const model& m);
graph_runner new_decoder_runner(const model& m);

// An intermediate result read back for parity checks against the reference implementation.
struct encodec_tap {
    int stage = 0;  // index into model.codec.decoder, or encodec_tap_quantized for the RVQ sum
    int64_t channels = 0;
    int64_t length = 0;
    std::vector<float> data;  // [channels][length], PyTorch's [C, T] order
};
constexpr int encodec_tap_quantized = -1;

// Host activations between graphs: [T][C], channel fastest (the LSTM's natural layout).
struct encodec_activations {
    std::vector<float> data;
    int64_t channels = 0;
    int64_t length = 0;
};

// Throws mg::error(invalid_argument) unless 1 <= n_q <= the quantizer count and every code of codes[n_q * frames]
// is in [0, codebook_size).
void encodec_check_codes(const codec_hparams& hp, const int32_t* codes, int32_t n_q, int32_t frames);

// Runs decoder stages [begin, end) (none of them an LSTM) as one graph. The input is the codes when `codes` is
// set (the RVQ decode leads the graph), otherwise `act`; `act` receives the result. `taps` as for encodec_decode.
void encodec_run_conv_stages(const model& m, graph_runner& runner, const int32_t* codes, int32_t n_q, int32_t frames,
                             size_t begin, size_t end, encodec_activations& act, std::vector<encodec_tap>* taps);

// Frames per push when encodec_decode runs a whole clip through the streaming decoder (stream.h) on the CPU:
// windows of a chunk keep every stage's activations in the caches (one graph over a whole clip's full-rate
// activations does not: 30 s of musicgen-small's last stages are hundreds of MiB) and bound the compute memory by
// the chunk. A GPU keeps the one graph: it has no such caches, and its f16-rounding products would round the
// differently cut graphs differently.
constexpr int32_t encodec_whole_clip_chunk_frames = 25;

// Decodes codes[q * frames + t] (q < n_q <= quantizer count, every code in [0, codebook_size)) into
// frames * hop_length samples: on the CPU through the streaming decoder in chunks of
// encodec_whole_clip_chunk_frames (the same samples as one graph over the whole clip). `taps`, when non-empty, names
// the stages to capture (stage set by the caller, the rest filled in): the clip then runs as one graph per stretch of
// convolution stages between LSTMs, the reference the streaming decoder is checked against. Computes in
// `workspace` (codec/workspace.h). Throws mg::error(invalid_argument) for bad codes/sizes, mg::error(backend) when ggml
// fails.
std::vector<float> encodec_decode(const model& m, encodec_workspace& workspace, const int32_t* codes, int32_t n_q,
                                  int32_t frames, std::vector<encodec_tap>* taps = nullptr);

}  // namespace mg
