// Classifier-free guidance and token sampling in HF's order (see sampling.h).
#include "lm/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace mg {

static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

rng::rng(uint64_t seed) {
    for (uint64_t& s : s_) s = splitmix64(seed);
}

uint64_t rng::next() {
    const auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

void apply_guidance(const float* cond, const float* uncond, float scale, float* guided, int32_t n) {
    for (int32_t i = 0; i < n; ++i) guided[i] = uncond[i] + (cond[i] - uncond[i]) * scale;
}

void warp_scores(std::vector<float>& scores, const sampling_params& params) {
    const float neg_inf = -std::numeric_limits<float>::infinity();
    const int32_t n = static_cast<int32_t>(scores.size());
    if (params.temperature != 1.0f) {
        for (float& s : scores) s = s / params.temperature;
    }
    if (params.top_k > 0 && params.top_k < n) {
        std::vector<float> sorted(scores);
        std::nth_element(sorted.begin(), sorted.begin() + (params.top_k - 1), sorted.end(), std::greater<float>());
        const float kth = sorted[params.top_k - 1];
        for (float& s : scores) {
            if (s < kth) s = neg_inf;
        }
    }
    if (params.top_p > 0.0f && params.top_p < 1.0f) {
        // HF: sort ascending, drop the tokens whose cumulative probability stays <= 1 - top_p, keep >= 1.
        std::vector<int32_t> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return scores[a] < scores[b]; });
        const float max_score = scores[order[n - 1]];
        double total = 0.0;
        for (float s : scores) total += std::exp(static_cast<double>(s) - max_score);
        double cumulative = 0.0;
        for (int32_t i = 0; i < n - 1; ++i) {
            cumulative += std::exp(static_cast<double>(scores[order[i]]) - max_score) / total;
            if (cumulative > 1.0 - params.top_p) break;
            scores[order[i]] = neg_inf;
        }
    }
}

int32_t sample_token(const float* logits, int32_t n, const sampling_params& params, rng& generator,
                     std::vector<float>& scratch) {
    if (params.top_k == 1) {
        return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);  // first maximum, as argmax
    }
    scratch.assign(logits, logits + n);
    warp_scores(scratch, params);
    const float max_score = *std::max_element(scratch.begin(), scratch.end());
    double total = 0.0;
    for (float& s : scratch) {
        s = std::exp(s - max_score);
        total += s;
    }
    const double target = generator.uniform() * total;
    double cumulative = 0.0;
    int32_t last_kept = 0;
    for (int32_t i = 0; i < n; ++i) {
        if (scratch[i] <= 0.0f) continue;
        cumulative += scratch[i];
        last_kept = i;
        if (target < cumulative) return i;
    }
    return last_kept;  // rounding left the target at the very end
}

}  // namespace mg
