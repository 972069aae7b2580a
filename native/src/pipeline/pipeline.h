// The one generation pipeline behind both generate() and stream(): a prompt batch's token ids -> T5 conditioning
// (once) -> the LM loop, window after window for music longer than the model's window (long-form, as audiocraft
// extends it) -> the EnCodec decoder per prompt and channel -> PCM chunks, plus the codes at the end. generate() is
// this pipeline with one chunk; stream() asks for chunks of chunk_frames frames as soon as their samples are final.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "lm/generation.h"
#include "melody/melody-conditioning.h"
#include "model/model.h"

namespace mg {

struct pipeline_request {
    // T5 token ids of each prompt (EOS included, as tokenizer::encode gives them).
    std::vector<std::vector<int32_t>> tokens;
    // Sampling, audio-prompt codes and chroma of the first window; `frames` = new frames of a one-window run.
    generation_request generation;
    // Frames per chunk: 0 = one chunk of the whole output, decoded in one pass (generate()). The first chunk
    // takes first_chunk_frames instead when that is set (> 0): a short first chunk brings the first audio sooner.
    int32_t chunk_frames = 0;
    int32_t first_chunk_frames = 0;
    // Long-form (window_frames > 0): windows of window_frames; each later window keeps the last
    // (window_frames - stride_frames) frames as its audio prompt and adds up to stride_frames, until
    // total_new_frames new frames exist; window w draws with seed + w. window_chroma[w - 1] is window w's melody
    // chroma (melody models; missing entries: none).
    int32_t window_frames = 0;
    int32_t stride_frames = 0;
    int32_t total_new_frames = 0;
    std::vector<std::vector<chroma_features>> window_chroma;
    // Deliver the codes with the final chunk.
    bool want_codes = false;
    // false: no decoding at all; the one final chunk has empty audio (codes only, with want_codes).
    bool want_audio = true;
};

// Final samples of every prompt: audio[prompt][channel], all starting at start_sample.
struct pipeline_chunk {
    std::vector<std::vector<std::vector<float>>> audio;
    int64_t start_sample = 0;
    bool final = false;
    // With want_codes, on the final chunk: every output frame's undelayed codes [prompt, codebook, frames]
    // (audio-prompt frames first).
    std::vector<int32_t> codes;
    int32_t frames = 0;
};

struct pipeline_events {
    // After every LM step: step and total over all windows (total = sum over windows of new frames + groups - 1).
    std::function<void(int32_t step, int32_t total)> on_step;
    // Each chunk, in order; may block (backpressure) and may throw (the run ends with that error).
    std::function<void(pipeline_chunk&& chunk)> on_chunk;
};

// Runs the pipeline on the calling thread. `abort` is polled before every LM step; a set flag throws
// mg::error(aborted). Invalid requests throw mg::error(invalid_argument) before any work.
void run_pipeline(const model& m, const pipeline_request& request, const pipeline_events& events,
                  const std::atomic<bool>& abort);

// Codes [K, frames] of one prompt (stereo rows interleaved: 2q = left quantizer q, 2q + 1 = right,
// docs/reference-notes.md §12) decoded in one pass, one waveform per audio channel.
std::vector<std::vector<float>> decode_channels(const model& m, const int32_t* codes, int32_t frames);

}  // namespace mg
