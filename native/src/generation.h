// Text-to-codes generation (REFERENCE_NOTES §6-8): prompts -> T5 conditioning -> the LM's delayed
// autoregressive loop with classifier-free guidance and sampling -> undelayed codes [B, K, frames].
// Also a teacher-forced forward pass over given decoder ids, a diagnostics entry used by the parity tests.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model.h"
#include "sampling.h"

namespace mg {

struct generation_request {
    std::vector<std::string> prompts;
    int32_t frames = 0;  // audio frames to produce (LM steps = frames + groups - 1)
    sampling_params sampling;
};

struct generated_codes {
    int32_t n_batch = 0;
    int32_t n_codebooks = 0;
    int32_t n_frames = 0;
    std::vector<int32_t> codes;  // [n_batch, n_codebooks, n_frames]
};

// Audio frame `frame` of every prompt, undelayed: codes[b * n_codebooks + k].
using frame_callback = std::function<void(int32_t frame, const int32_t* codes)>;

// `on_step(step, total)` runs after every LM step on the calling thread; `abort` is polled before each step
// and a set flag throws mg::error(aborted). `on_frame` (streaming) runs on the calling thread as soon as a frame
// is final in every codebook, i.e. after step frame + groups, frames in order.
generated_codes generate_codes(const model& m, const generation_request& request,
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
};

// One full pass over delayed decoder ids [n_batch, K, n_tokens] (position 0 = BOS column), as HF's
// model(...) call with guidance_scale > 1 duplicating the rows for the unconditional half.
teacher_forced_result teacher_forced(const model& m, const std::vector<std::string>& prompts,
                                     const std::vector<int32_t>& ids, int32_t n_tokens, float guidance_scale);

}  // namespace mg
