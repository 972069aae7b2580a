#include "lm/generation.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "lm/delay-pattern.h"
#include "lm/lm-state.h"
#include "melody/melody-conditioning.h"
#include "runtime/error.h"
#include "runtime/graph-runner.h"
#include "text/t5-encoder.h"
#include "text/text-conditioning.h"

namespace mg {

// The LM session of a prompt batch, conditioned as the model's variant is: cross-attention to the projected,
// masked T5 states (text), or the chroma + text prefix (melody), copied to `prefix_out` when given.
static lm_session open_session(const model& m, const text_condition& text, const std::vector<chroma_features>& chroma,
                               bool guided, int32_t n_ctx, melody_prefix* prefix_out = nullptr) {
    const int32_t n_cond = text.batch.n_batch;
    check_chroma_fits(m, chroma, static_cast<size_t>(n_cond));
    if (m.hparams.lm.variant == lm_variant::melody) {
        graph_runner runner(m.backends, t5_graph_nodes(m.hparams.t5));
        melody_prefix prefix = build_melody_prefix(m, runner, text.states, chroma, guided);
        if (prefix_out) *prefix_out = prefix;
        return lm_session(m, n_cond, guided, n_ctx, std::move(prefix));
    }
    return lm_session(m, n_cond, guided, n_ctx, text.states, text.batch.mask);
}

generated_codes generate_codes(const model& m, const text_condition& text, const generation_request& request,
                               const std::function<void(int32_t, int32_t)>& on_step, const std::atomic<bool>& abort,
                               const frame_callback& on_frame) {
    const lm_hparams& hp = m.hparams.lm;
    const sampling_params& sp = request.sampling;
    if (request.frames < 1) throw error(error_code::invalid_argument, "frames must be at least 1");
    // The facade's ranges (lib/) are never wider than these: what passes there is representable here.
    const auto check = [](bool ok, const char* what) {
        if (!ok) throw error(error_code::invalid_argument, std::string("sampling parameter out of range: ") + what);
    };
    check(sp.top_k >= 0, "top_k must be >= 0");
    check(sp.top_p >= 0.0f && sp.top_p <= 1.0f, "top_p must be in [0, 1]");
    check(std::isfinite(sp.temperature) && sp.temperature > 0.0f, "temperature must be a finite float > 0");
    check(std::isfinite(sp.guidance_scale) && sp.guidance_scale >= 0.0f, "guidance_scale must be a finite float >= 0");
    const int32_t F = request.prompt_frames;
    const size_t prompt_values =
        static_cast<size_t>(text.batch.n_batch) * hp.n_codebooks * static_cast<size_t>(std::max(F, 0));
    if (F < 0 || request.prompt_codes.size() != prompt_values) {
        throw error(error_code::invalid_argument, "prompt codes must hold [prompts, codebooks, prompt_frames] = [" +
                                                      std::to_string(static_cast<size_t>(text.batch.n_batch)) + ", " +
                                                      std::to_string(hp.n_codebooks) + ", " + std::to_string(F) +
                                                      "] values");
    }
    for (size_t i = 0; i < request.prompt_codes.size(); ++i) {
        const int32_t code = request.prompt_codes[i];
        if (code < 0 || static_cast<uint32_t>(code) >= hp.codebook_size) {
            throw error(error_code::invalid_argument, "prompt code " + std::to_string(code) + " at index " +
                                                          std::to_string(i) + " is outside [0, " +
                                                          std::to_string(hp.codebook_size) + ")");
        }
    }

    delay_pattern pattern;
    pattern.codebooks = static_cast<int32_t>(hp.n_codebooks);
    pattern.channels = static_cast<int32_t>(hp.audio_channels);
    pattern.pad_code = static_cast<int32_t>(m.hparams.generation.pad_token_id);
    // HF: max_length = prompt frames + 1 (BOS) + new tokens, and new tokens = frames + groups - 1.
    const int64_t max_length = int64_t{F} + request.frames + pattern.groups();
    // The last step feeds position max_length - 2; positions index the sinusoidal table.
    if (max_length - 1 > static_cast<int64_t>(hp.max_position)) {
        throw error(error_code::invalid_argument, std::to_string(F) + " prompt frames and " +
                                                      std::to_string(request.frames) + " new frames need " +
                                                      std::to_string(max_length - 1) + " LM positions; the model has " +
                                                      std::to_string(hp.max_position));
    }
    pattern.max_length = static_cast<int32_t>(max_length);

    if (abort.load()) throw error(error_code::aborted, "generation aborted");
    const int32_t B = text.batch.n_batch, K = pattern.codebooks, L = pattern.max_length;
    const int32_t V = static_cast<int32_t>(hp.codebook_size);
    const bool guided = sp.guidance_scale > 1.0f;  // HF: CFG only above 1
    lm_session session = open_session(m, text, request.chroma, guided, L - 1);
    const int32_t R = session.n_rows();

    // delayed[b][k][t]: column 0 is the BOS column, every other column is filled by step t - 1.
    std::vector<int32_t> delayed(static_cast<size_t>(B) * K * L, pattern.pad_code);
    std::vector<int32_t> step_ids(static_cast<size_t>(R) * K);
    std::vector<float> guided_logits(V);
    std::vector<float> scratch;
    scratch.reserve(V);
    lm_outputs out;
    rng generator(sp.seed);
    std::vector<int32_t> frame_codes(on_frame ? static_cast<size_t>(B) * K : 0);
    const auto prompt_of = [&](int32_t b) {
        return F > 0 ? request.prompt_codes.data() + static_cast<size_t>(b) * K * F : nullptr;
    };
    // Column t completes frame t - groups: the most delayed codebook (delay groups - 1) holds it at t.
    const auto complete_column = [&](int32_t t) {
        if (!on_frame || t < pattern.groups()) return;
        const int32_t j = t - pattern.groups();
        for (int32_t b = 0; b < B; ++b) {
            for (int32_t k = 0; k < K; ++k) {
                frame_codes[static_cast<size_t>(b) * K + k] =
                    delayed[(static_cast<size_t>(b) * K + k) * L + j + pattern.delay(k) + 1];
            }
        }
        on_frame(j, frame_codes.data());
    };

    // Columns 0..F hold only forced values (BOS, stagger pads, prompt codes): the first step feeds them all
    // at once and predicts column F + 1 (HF starts generating there).
    for (int32_t b = 0; b < B; ++b) {
        for (int32_t k = 0; k < K; ++k) {
            for (int32_t t = 0; t <= F; ++t) {
                delayed[(static_cast<size_t>(b) * K + k) * L + t] = pattern.forced(k, t, prompt_of(b), F);
            }
        }
    }
    for (int32_t t = 0; t <= F; ++t) complete_column(t);

    const int32_t total = L - 1;
    for (int32_t s = F; s < total; ++s) {
        if (abort.load()) throw error(error_code::aborted, "generation aborted");
        const int32_t n_feed = s == F ? F + 1 : 1;
        const int32_t from = s + 1 - n_feed;
        step_ids.resize(static_cast<size_t>(R) * K * n_feed);
        // Unconditional rows decode the same sequences (audio prompt included) as their conditional twins.
        for (int32_t r = 0; r < R; ++r) {
            for (int32_t k = 0; k < K; ++k) {
                const int32_t* row = delayed.data() + (static_cast<size_t>(r % B) * K + k) * L + from;
                std::copy(row, row + n_feed, step_ids.begin() + (static_cast<size_t>(r) * K + k) * n_feed);
            }
        }
        session.forward(step_ids.data(), n_feed, false, false, out);

        const int32_t t = s + 1;
        for (int32_t b = 0; b < B; ++b) {
            for (int32_t k = 0; k < K; ++k) {
                int32_t& slot = delayed[(static_cast<size_t>(b) * K + k) * L + t];
                const int32_t forced = pattern.forced(k, t, prompt_of(b), F);
                if (forced >= 0) {
                    slot = forced;  // HF samples here too but overwrites it; skipping keeps the RNG for real draws
                    continue;
                }
                const float* cond = out.logits.data() + (static_cast<size_t>(b) * K + k) * V;
                const float* logits = cond;
                if (guided) {
                    const float* uncond = out.logits.data() + (static_cast<size_t>(B + b) * K + k) * V;
                    apply_guidance(cond, uncond, sp.guidance_scale, guided_logits.data(), V);
                    logits = guided_logits.data();
                }
                slot = sample_token(logits, V, sp, generator, scratch);
            }
        }
        if (on_step) on_step(t - F, total - F);  // before the frame: the last step's report precedes the last chunk
        complete_column(t);
    }

    generated_codes result;
    result.n_batch = B;
    result.n_codebooks = K;
    result.n_frames = pattern.frames();
    result.step_graph_builds = session.step_builds();
    result.codes.reserve(static_cast<size_t>(B) * K * result.n_frames);
    for (int32_t b = 0; b < B; ++b) {
        const std::vector<int32_t> row(delayed.begin() + static_cast<size_t>(b) * K * L,
                                       delayed.begin() + static_cast<size_t>(b + 1) * K * L);
        const std::vector<int32_t> codes = pattern.undo(row);
        result.codes.insert(result.codes.end(), codes.begin(), codes.end());
    }
    return result;
}

teacher_forced_result teacher_forced(const model& m, const std::vector<std::string>& prompts,
                                     const std::vector<int32_t>& ids, int32_t n_tokens, float guidance_scale,
                                     const std::vector<chroma_features>& chroma) {
    const lm_hparams& hp = m.hparams.lm;
    const int32_t B = static_cast<int32_t>(prompts.size()), K = static_cast<int32_t>(hp.n_codebooks);
    if (n_tokens < 1 || ids.size() != static_cast<size_t>(B) * K * n_tokens) {
        throw error(error_code::invalid_argument, "decoder ids must be [" + std::to_string(B) + ", " +
                                                      std::to_string(K) + ", T] for " + std::to_string(B) + " prompts");
    }
    if (!(std::isfinite(guidance_scale) && guidance_scale >= 0.0f)) {
        throw error(error_code::invalid_argument, "guidance_scale must be a finite float >= 0");
    }
    const bool guided = guidance_scale > 1.0f;
    melody_prefix prefix;
    lm_session session =
        open_session(m, condition_on_text(m, tokenize_batch(m, prompts)), chroma, guided, n_tokens, &prefix);

    teacher_forced_result r;
    r.n_batch = B;
    r.n_rows = session.n_rows();
    r.n_codebooks = K;
    r.n_tokens = n_tokens;
    r.n_vocab = static_cast<int32_t>(hp.codebook_size);
    r.n_embd = static_cast<int32_t>(hp.n_embd);

    std::vector<int32_t> rows(ids);
    if (guided) rows.insert(rows.end(), ids.begin(), ids.end());  // HF: ids.repeat(2, 1)
    lm_outputs out;
    session.forward(rows.data(), n_tokens, true, true, out);

    const size_t half = static_cast<size_t>(B) * K * n_tokens * r.n_vocab;
    r.cond.assign(out.logits.begin(), out.logits.begin() + half);
    if (guided) {
        r.uncond.assign(out.logits.begin() + half, out.logits.end());
        r.guided.resize(half);
        apply_guidance(r.cond.data(), r.uncond.data(), guidance_scale, r.guided.data(), static_cast<int32_t>(half));
    } else {
        r.guided = r.cond;
    }
    r.embd = std::move(out.embd);
    r.hidden = std::move(out.hidden);
    r.n_prefix = prefix.n_tokens;
    r.prefix = std::move(prefix.data);
    return r;
}

}  // namespace mg
