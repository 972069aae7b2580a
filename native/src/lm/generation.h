// Codes generation (docs/reference-notes.md §6-8): the LM's delayed autoregressive loop over a prompt batch's T5
// conditioning, with classifier-free guidance and sampling -> undelayed codes [B, K, frames].
// Also a teacher-forced forward pass over given decoder ids, a diagnostics entry used by the parity tests.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lm/sampling.h"
#include "melody/melody-conditioning.h"
#include "model/model.h"
#include "text/text-conditioning.h"

namespace mg {

// One LM run over a prompt batch whose text conditioning (text_condition) is computed beforehand.
struct generation_request {
    int32_t frames = 0;  // new audio frames to produce (LM steps = frames + groups - 1)
    sampling_params sampling;
    // Audio-prompt continuation (docs/reference-notes.md §9, §12): codes [prompts, K, prompt_frames] (stereo rows
    // interleaved like the LM's) that the delay pattern forces; the output holds them followed by `frames` new
    // frames. Empty with prompt_frames 0 for text-only generation.
    std::vector<int32_t> prompt_codes;
    int32_t prompt_frames = 0;
    // Melody models: chroma one-hots per prompt (entries with 0 frames, or none at all, fall back to the null
    // chroma of text-only generation). Any chroma on a text model is an invalid_argument error.
    std::vector<chroma_features> chroma;
};

struct generated_codes {
    int32_t n_batch = 0;
    int32_t n_codebooks = 0;
    int32_t n_frames = 0;
    std::vector<int32_t> codes;     // [n_batch, n_codebooks, n_frames]
    int32_t step_graph_builds = 0;  // times the replayable step graph was built (lm_session::step_builds)
};

// Audio frame `frame` of every prompt, undelayed: codes[b * n_codebooks + k].
using frame_callback = std::function<void(int32_t frame, const int32_t* codes)>;

// `on_step(step, total)` runs after every LM step on the calling thread (total = frames + groups - 1: prompt
// frames take no steps); `abort` is polled before each step and a set flag throws mg::error(aborted). `on_frame`
// (streaming) runs on the calling thread as soon as a frame is final in every codebook, frames in order: prompt
// frames whose every codebook is forced before the first step, then one per step.
generated_codes generate_codes(const model& m, const text_condition& text, const generation_request& request,
                               const std::function<void(int32_t, int32_t)>& on_step, const std::atomic<bool>& abort,
                               const frame_callback& on_frame = nullptr);

struct teacher_forced_result {
    int32_t n_batch = 0;
    int32_t n_rows = 0;  // n_batch, or 2 * n_batch with guidance
    int32_t n_codebooks = 0;
    int32_t n_tokens = 0;
    int32_t n_vocab = 0;
    int32_t n_embd = 0;
    std::vector<float> cond;    // [n_batch, K, n_tokens, V]
    std::vector<float> uncond;  // same, empty without guidance
    std::vector<float> guided;  // same; equal to cond without guidance
    std::vector<float> embd;    // [n_rows, n_tokens, H] decoder input embeddings
    std::vector<float> hidden;  // [n_rows, n_tokens, H] after the final LayerNorm
    int32_t n_prefix = 0;       // melody: conditioning prefix rows before the code positions, else 0
    std::vector<float> prefix;  // melody: [n_rows, n_prefix, H] chroma + text prefix, else empty
};

// One full pass over delayed decoder ids [n_batch, K, n_tokens] (position 0 = BOS column), as HF's
// model(...) call with guidance_scale > 1 duplicating the rows for the unconditional half. `chroma` as in
// generation_request.
teacher_forced_result teacher_forced(const model& m, const std::vector<std::string>& prompts,
                                     const std::vector<int32_t>& ids, int32_t n_tokens, float guidance_scale,
                                     const std::vector<chroma_features>& chroma = {});

}  // namespace mg
