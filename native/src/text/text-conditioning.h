// Text conditioning: prompts -> T5 token batch -> T5 encoder states -> projection to the LM width.
// Mirrors HF's MusicgenProcessor + T5EncoderModel + enc_to_dec_proj (docs/reference-notes.md §2-4).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/graph-runner.h"

namespace mg {

// Prompts tokenised and right-padded with the pad id to the longest prompt (HF `padding=True`).
struct text_batch {
    int32_t n_batch = 0;
    int32_t n_tokens = 0;      // longest prompt, EOS included
    std::vector<int32_t> ids;  // [n_batch, n_tokens], row-major
    std::vector<float> mask;   // [n_batch, n_tokens], 1 = token, 0 = padding
};

text_batch tokenize_batch(const model& m, const std::vector<std::string>& prompts);

// Token ids of each prompt (EOS included, as tokenizer::encode gives them) right-padded into one batch. Throws
// mg::error(invalid_argument) for no prompts, an empty or over-long prompt (max_prompt_tokens) or an id outside the
// T5 vocabulary.
text_batch pad_text_batch(const model& m, const std::vector<std::vector<int32_t>>& tokens);

// Row-major float states [n_batch, n_tokens, n_embd].
struct text_states {
    int32_t n_batch = 0;
    int32_t n_tokens = 0;
    int32_t n_embd = 0;
    std::vector<float> data;
};

// T5 last_hidden_state (after the final RMSNorm), padded query rows included as HF computes them.
text_states encode_t5(const model& m, graph_runner& runner, const text_batch& batch);

// enc_to_dec_proj(states) * mask: the cross-attention source of the text variant and the text part of
// the melody prefix. Identity projection when the checkpoint has none (T5 width == LM width).
text_states project_text(const model& m, graph_runner& runner, const text_states& states, const text_batch& batch);

// A prompt batch's conditioning, computed once per generation (every long-form window reuses it): the batch and
// its projected, masked T5 states.
struct text_condition {
    text_batch batch;
    text_states states;
};

text_condition condition_on_text(const model& m, text_batch batch);

}  // namespace mg
