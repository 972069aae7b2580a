// MusicGen-Melody's prefix conditioning (see melody-conditioning.h): projected chroma + text rows.
#include "melody/melody-conditioning.h"

#include <ggml-backend.h>

#include <algorithm>
#include <string>

#include "runtime/error.h"

namespace mg {

void check_chroma_fits(const model& m, const std::vector<chroma_features>& chroma, size_t n_prompts) {
    if (chroma.empty()) return;
    if (chroma.size() != n_prompts) {
        throw error(error_code::invalid_argument,
                    "chroma features must be given per prompt: " + std::to_string(chroma.size()) + " for " +
                        std::to_string(n_prompts) + " prompts");
    }
    const bool any = std::any_of(chroma.begin(), chroma.end(), [](const chroma_features& c) { return c.frames > 0; });
    if (any && m.hparams.lm.variant != lm_variant::melody) {
        throw error(error_code::invalid_argument,
                    "chroma (melody) conditioning needs a MusicGen-Melody model; this one is text-only");
    }
    const size_t num_chroma = m.hparams.melody.num_chroma;
    for (size_t b = 0; b < chroma.size(); ++b) {
        const chroma_features& c = chroma[b];
        if (c.frames < 0 || c.data.size() != static_cast<size_t>(c.frames) * num_chroma) {
            throw error(error_code::invalid_argument, "chroma features of prompt " + std::to_string(b) +
                                                          " must be [frames, " + std::to_string(num_chroma) +
                                                          "] values");
        }
    }
}

melody_prefix build_melody_prefix(const model& m, graph_runner& runner, const text_states& text,
                                  const std::vector<chroma_features>& chroma, bool guided) {
    if (m.hparams.lm.variant != lm_variant::melody) {
        throw error(error_code::invalid_argument, "prefix conditioning needs a MusicGen-Melody model");
    }
    check_chroma_fits(m, chroma, static_cast<size_t>(text.n_batch));
    const int64_t H = m.hparams.lm.n_embd, C = m.hparams.melody.num_chroma, L = m.hparams.melody.chroma_length;
    const int32_t B = text.n_batch, R = guided ? 2 * B : B;
    if (text.n_embd != H) throw error(error_code::invalid_argument, "text states do not match the LM width");

    // Tiling before the (row-wise) projection equals HF's tiling after it: frame t of the prefix is input
    // frame t % frames (ceil(L / frames) copies cut to L, or the first L frames of a longer input).
    // Prompts without chroma and all unconditional rows use the null chroma: one-hot class 0.
    std::vector<float> onehots(static_cast<size_t>(R) * L * C, 0.0f);
    for (int32_t r = 0; r < R; ++r) {
        const chroma_features* c = r < B && !chroma.empty() && chroma[r].frames > 0 ? &chroma[r] : nullptr;
        for (int64_t t = 0; t < L; ++t) {
            float* dst = onehots.data() + (static_cast<size_t>(r) * L + t) * C;
            if (c) {
                std::copy_n(c->data.data() + (t % c->frames) * C, C, dst);
            } else {
                dst[0] = 1.0f;
            }
        }
    }

    // audio_enc_to_dec_proj; the checkpoint omits it when num_chroma == H (identity).
    std::vector<float> projected;
    if (m.cond.chroma_proj_w) {
        projected.resize(static_cast<size_t>(R) * L * H);
        ggml_tensor* x = nullptr;
        ggml_tensor* y = nullptr;
        runner.run(
            [&](ggml_context* ctx) {
                ggml_cgraph* gf = ggml_new_graph_custom(ctx, runner.max_nodes(), false);
                x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, C, L * R);
                ggml_set_name(x, "chroma");
                ggml_set_input(x);
                y = ggml_mul_mat(ctx, m.cond.chroma_proj_w, x);
                if (m.cond.chroma_proj_b) y = ggml_add(ctx, y, m.cond.chroma_proj_b);
                ggml_set_name(y, "chroma_states");
                ggml_set_output(y);
                ggml_build_forward_expand(gf, y);
                return gf;
            },
            [&] { ggml_backend_tensor_set(x, onehots.data(), 0, ggml_nbytes(x)); },
            [&] { ggml_backend_tensor_get(y, projected.data(), 0, ggml_nbytes(y)); });
    } else {
        projected = std::move(onehots);
    }

    melody_prefix out;
    out.n_rows = R;
    out.n_tokens = static_cast<int32_t>(L) + text.n_tokens;
    out.n_embd = static_cast<int32_t>(H);
    // Unconditional text rows are zeros after the projection (docs/reference-notes.md §11.2).
    out.data.assign(static_cast<size_t>(R) * out.n_tokens * H, 0.0f);
    const size_t text_size = static_cast<size_t>(text.n_tokens) * H;
    for (int32_t r = 0; r < R; ++r) {
        float* row = out.data.data() + static_cast<size_t>(r) * out.n_tokens * H;
        std::copy_n(projected.data() + static_cast<size_t>(r) * L * H, L * H, row);
        if (r < B) std::copy_n(text.data.data() + static_cast<size_t>(r) * text_size, text_size, row + L * H);
    }
    return out;
}

}  // namespace mg
