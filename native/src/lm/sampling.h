// Classifier-free guidance and token sampling in HF's order (docs/reference-notes.md §7-8): guidance, then
// temperature (only when != 1), top-k (ties at the boundary kept), top-p (only when 0 < p < 1), then a
// draw from the softmax. A seeded xoshiro256** generator makes runs reproducible across platforms.
#pragma once
#include <cstdint>
#include <vector>

namespace mg {

struct sampling_params {
    int32_t top_k = 250;          // 0 = no top-k; 1 = greedy
    float top_p = 0.0f;           // 0 (or >= 1) = disabled
    float temperature = 1.0f;     // > 0
    float guidance_scale = 3.0f;  // <= 1: no unconditional rows
    uint64_t seed = 0;
};

class rng {
  public:
    explicit rng(uint64_t seed);
    uint64_t next();
    double uniform();  // [0, 1) with 53 random bits

  private:
    uint64_t s_[4];
};

// guided[i] = uncond[i] + (cond[i] - uncond[i]) * scale, in float32 in that order (as HF evaluates it).
void apply_guidance(const float* cond, const float* uncond, float scale, float* guided, int32_t n);

// Warps `scores` in place exactly as HF's warpers do (-inf for removed tokens).
void warp_scores(std::vector<float>& scores, const sampling_params& params);

// Picks one token from guided logits: argmax for top_k == 1, otherwise warp + softmax + draw.
int32_t sample_token(const float* logits, int32_t n, const sampling_params& params, rng& generator,
                     std::vector<float>& scratch);

}  // namespace mg
