// Prefix conditioning of the MusicGen-Melody LM (docs/reference-notes.md §11.2): projected chroma, tiled to
// chroma_length rows, followed by the projected, masked text states; the LM self-attends over this prefix
// before the code positions instead of cross-attending to the text.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "runtime/graph-runner.h"
#include "text/text-conditioning.h"

namespace mg {

// Chroma of one prompt: row-major [frames, num_chroma] (one-hots from the feature extractor). frames == 0
// means none: that prompt is conditioned on the null chroma, as HF's text-only melody generation.
struct chroma_features {
    int32_t frames = 0;
    std::vector<float> data;
};

// Row-major [n_rows, n_tokens, n_embd]: every decoder row's prefix (conditional rows, then unconditional).
struct melody_prefix {
    int32_t n_rows = 0;
    int32_t n_tokens = 0;  // chroma_length + text tokens
    int32_t n_embd = 0;
    std::vector<float> data;
};

// Throws invalid_argument when any prompt carries chroma but the model is not the melody variant.
void check_chroma_fits(const model& m, const std::vector<chroma_features>& chroma, size_t n_prompts);

// `text`: enc_to_dec_proj(T5) * mask of the prompts; `chroma`: one entry per prompt, or empty for none.
// With `guided`, unconditional rows follow: zero text rows and the null chroma (one-hot class 0).
melody_prefix build_melody_prefix(const model& m, graph_runner& runner, const text_states& text,
                                  const std::vector<chroma_features>& chroma, bool guided);

}  // namespace mg
