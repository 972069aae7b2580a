#include "generation.h"

#include <string>

#include "delay-pattern.h"
#include "error.h"
#include "graph-runner.h"
#include "lm-state.h"
#include "t5-encoder.h"
#include "text-conditioning.h"

namespace mg {

// Projected, masked T5 states of the prompts and their padding mask: the cross-attention source.
struct text_condition {
    text_states states;
    std::vector<float> mask;
};

static text_condition condition_on(const model& m, const std::vector<std::string>& prompts) {
    graph_runner runner(m.backends, t5_graph_nodes(m.hparams.t5));
    text_batch batch = tokenize_batch(m, prompts);
    const text_states t5 = encode_t5(m, runner, batch);
    return {project_text(m, runner, t5, batch), std::move(batch.mask)};
}

generated_codes generate_codes(const model& m, const generation_request& request,
                               const std::function<void(int32_t, int32_t)>& on_step, const std::atomic<bool>& abort,
                               const frame_callback& on_frame) {
    const lm_hparams& hp = m.hparams.lm;
    const sampling_params& sp = request.sampling;
    if (request.frames < 1) throw error(error_code::invalid_argument, "frames must be at least 1");
    if (sp.top_k < 0 || sp.top_p < 0.0f || sp.top_p > 1.0f || !(sp.temperature > 0.0f) || sp.guidance_scale < 0.0f) {
        throw error(error_code::invalid_argument, "sampling parameters out of range");
    }

    delay_pattern pattern;
    pattern.codebooks = static_cast<int32_t>(hp.n_codebooks);
    pattern.channels = static_cast<int32_t>(hp.audio_channels);
    pattern.pad_code = static_cast<int32_t>(m.hparams.generation.pad_token_id);
    pattern.max_length = request.frames + pattern.groups();
    // The last step feeds position max_length - 2; positions index the sinusoidal table.
    if (static_cast<uint32_t>(pattern.max_length - 1) > hp.max_position) {
        throw error(error_code::invalid_argument,
                    std::to_string(request.frames) + " frames need " + std::to_string(pattern.max_length - 1) +
                        " LM positions; the model has " + std::to_string(hp.max_position));
    }

    if (abort.load()) throw error(error_code::aborted, "generation aborted");
    const text_condition text = condition_on(m, request.prompts);
    const int32_t B = static_cast<int32_t>(request.prompts.size()), K = pattern.codebooks, L = pattern.max_length;
    const int32_t V = static_cast<int32_t>(hp.codebook_size);
    const bool guided = sp.guidance_scale > 1.0f;  // HF: CFG only above 1
    lm_session session(m, B, guided, L - 1, text.states, text.mask);
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

    const int32_t total = L - 1;
    for (int32_t s = 0; s < total; ++s) {
        if (abort.load()) throw error(error_code::aborted, "generation aborted");
        // Unconditional rows decode the same sequences as their conditional twins.
        for (int32_t r = 0; r < R; ++r) {
            for (int32_t k = 0; k < K; ++k) {
                step_ids[static_cast<size_t>(r) * K + k] = delayed[(static_cast<size_t>(r % B) * K + k) * L + s];
            }
        }
        session.forward(step_ids.data(), 1, false, false, out);

        const int32_t t = s + 1;
        for (int32_t b = 0; b < B; ++b) {
            for (int32_t k = 0; k < K; ++k) {
                int32_t& slot = delayed[(static_cast<size_t>(b) * K + k) * L + t];
                const int32_t forced = pattern.forced(k, t, nullptr, 0);
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
        // Column t completes frame t - groups: the most delayed codebook (delay groups - 1) holds it at t.
        if (on_frame && t >= pattern.groups()) {
            const int32_t j = t - pattern.groups();
            for (int32_t b = 0; b < B; ++b) {
                for (int32_t k = 0; k < K; ++k) {
                    frame_codes[static_cast<size_t>(b) * K + k] =
                        delayed[(static_cast<size_t>(b) * K + k) * L + j + pattern.delay(k) + 1];
                }
            }
            on_frame(j, frame_codes.data());
        }
        if (on_step) on_step(t, total);
    }

    generated_codes result;
    result.n_batch = B;
    result.n_codebooks = K;
    result.n_frames = pattern.frames();
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
                                     const std::vector<int32_t>& ids, int32_t n_tokens, float guidance_scale) {
    const lm_hparams& hp = m.hparams.lm;
    const int32_t B = static_cast<int32_t>(prompts.size()), K = static_cast<int32_t>(hp.n_codebooks);
    if (n_tokens < 1 || ids.size() != static_cast<size_t>(B) * K * n_tokens) {
        throw error(error_code::invalid_argument, "decoder ids must be [" + std::to_string(B) + ", " +
                                                      std::to_string(K) + ", T] for " + std::to_string(B) + " prompts");
    }
    const text_condition text = condition_on(m, prompts);
    const bool guided = guidance_scale > 1.0f;
    lm_session session(m, B, guided, n_tokens, text.states, text.mask);

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
    return r;
}

}  // namespace mg
