// Text conditioning (see text-conditioning.h): prompts -> T5 states -> projection to the LM width.
#include "text/text-conditioning.h"

#include <algorithm>
#include <cfloat>
#include <string>

#include "runtime/error.h"
#include "text/t5-encoder.h"

namespace mg {

// Attention scores grow with the square of the prompt length; this keeps them in the hundreds of MB for t5-base
// (HF has no limit: MusicgenProcessor does not truncate, and real prompts are a few dozen tokens).
constexpr size_t max_prompt_tokens = 2048;

// The projection graph: mul_mat, add, mul and the views around them.
constexpr size_t projection_graph_nodes = 8;

// The batch must describe itself consistently and address only existing embedding rows: get_rows does not check.
static void check_batch(const model& m, const text_batch& batch) {
    const size_t n = static_cast<size_t>(batch.n_batch) * static_cast<size_t>(batch.n_tokens);
    if (batch.n_batch < 1 || batch.n_tokens < 1 || static_cast<size_t>(batch.n_tokens) > max_prompt_tokens ||
        batch.ids.size() != n || batch.mask.size() != n) {
        throw error(error_code::invalid_argument, "malformed text batch");
    }
    for (int32_t id : batch.ids) {
        if (id < 0 || static_cast<uint32_t>(id) >= m.hparams.t5.n_vocab) {
            throw error(error_code::invalid_argument, "token id " + std::to_string(id) +
                                                          " is outside the T5 vocabulary of " +
                                                          std::to_string(m.hparams.t5.n_vocab));
        }
    }
}

text_batch tokenize_batch(const model& m, const std::vector<std::string>& prompts) {
    std::vector<std::vector<int32_t>> tokens;
    tokens.reserve(prompts.size());
    for (const std::string& prompt : prompts) tokens.push_back(m.vocab->encode(prompt));
    return pad_text_batch(m, tokens);
}

text_batch pad_text_batch(const model& m, const std::vector<std::vector<int32_t>>& tokens) {
    if (tokens.empty()) throw error(error_code::invalid_argument, "at least one prompt is needed");
    size_t longest = 0;
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i].empty() || tokens[i].size() > max_prompt_tokens) {
            throw error(error_code::invalid_argument, "prompt " + std::to_string(i) + " has " +
                                                          std::to_string(tokens[i].size()) + " tokens; 1 to " +
                                                          std::to_string(max_prompt_tokens) + " are supported");
        }
        longest = std::max(longest, tokens[i].size());
    }

    text_batch batch;
    batch.n_batch = static_cast<int32_t>(tokens.size());
    batch.n_tokens = static_cast<int32_t>(longest);
    batch.ids.assign(tokens.size() * longest, m.vocab->pad_id());
    batch.mask.assign(tokens.size() * longest, 0.0f);
    for (size_t b = 0; b < tokens.size(); ++b) {
        std::copy(tokens[b].begin(), tokens[b].end(), batch.ids.begin() + b * longest);
        std::fill_n(batch.mask.begin() + b * longest, tokens[b].size(), 1.0f);
    }
    check_batch(m, batch);
    return batch;
}

static void check_nodes(const graph_runner& runner, size_t needed, const char* what) {
    if (runner.max_nodes() < needed) {
        throw error(error_code::invalid_argument,
                    std::string(what) + " needs a graph runner of at least " + std::to_string(needed) + " nodes");
    }
}

text_states encode_t5(const model& m, graph_runner& runner, const text_batch& batch) {
    check_batch(m, batch);
    check_nodes(runner, t5_graph_nodes(m.hparams.t5), "the T5 encoder");
    const int64_t n_tokens = batch.n_tokens, n_batch = batch.n_batch;

    // Bucket of (key - query) for every pair, key fastest, as get_rows indices into the bias table.
    std::vector<int32_t> buckets(static_cast<size_t>(n_tokens * n_tokens));
    for (int64_t q = 0; q < n_tokens; ++q) {
        for (int64_t k = 0; k < n_tokens; ++k) {
            buckets[q * n_tokens + k] =
                t5_relative_bucket(static_cast<int32_t>(k - q), static_cast<int32_t>(m.hparams.t5.n_rel_buckets),
                                   static_cast<int32_t>(m.hparams.t5.rel_max_distance));
        }
    }
    // finfo(float32).min like HF, not -inf: a row whose keys are all masked then gets a uniform softmax, not NaN.
    std::vector<float> kq_mask(batch.mask.size());
    for (size_t i = 0; i < kq_mask.size(); ++i) kq_mask[i] = batch.mask[i] != 0.0f ? 0.0f : -FLT_MAX;

    text_states out;
    out.n_batch = batch.n_batch;
    out.n_tokens = batch.n_tokens;
    out.n_embd = static_cast<int32_t>(m.hparams.t5.n_embd);
    out.data.resize(static_cast<size_t>(n_batch * n_tokens) * m.hparams.t5.n_embd);

    t5_graph_inputs inputs;
    ggml_tensor* result = nullptr;
    runner.run(
        [&](ggml_context* ctx) {
            ggml_cgraph* gf = ggml_new_graph_custom(ctx, runner.max_nodes(), false);
            result = build_t5_graph(ctx, m, n_tokens, n_batch, inputs);
            ggml_build_forward_expand(gf, result);
            return gf;
        },
        [&] {
            ggml_backend_tensor_set(inputs.ids, batch.ids.data(), 0, ggml_nbytes(inputs.ids));
            ggml_backend_tensor_set(inputs.buckets, buckets.data(), 0, ggml_nbytes(inputs.buckets));
            ggml_backend_tensor_set(inputs.kq_mask, kq_mask.data(), 0, ggml_nbytes(inputs.kq_mask));
        },
        [&] { ggml_backend_tensor_get(result, out.data.data(), 0, ggml_nbytes(result)); });
    return out;
}

text_states project_text(const model& m, graph_runner& runner, const text_states& states, const text_batch& batch) {
    const size_t n = static_cast<size_t>(batch.n_batch) * static_cast<size_t>(batch.n_tokens);
    if (states.n_batch != batch.n_batch || states.n_tokens != batch.n_tokens ||
        states.n_embd != static_cast<int32_t>(m.hparams.t5.n_embd) || states.data.size() != n * states.n_embd ||
        batch.mask.size() != n) {
        throw error(error_code::invalid_argument, "T5 states do not match the text batch");
    }

    text_states out;
    out.n_batch = states.n_batch;
    out.n_tokens = states.n_tokens;
    out.n_embd = static_cast<int32_t>(m.hparams.lm.n_embd);

    if (!m.cond.text_proj_w) {
        // Same width: HF skips enc_to_dec_proj but still multiplies by the mask.
        out.data = states.data;
        for (size_t t = 0; t < n; ++t) {
            for (size_t i = 0; i < static_cast<size_t>(out.n_embd); ++i) out.data[t * out.n_embd + i] *= batch.mask[t];
        }
        return out;
    }

    check_nodes(runner, projection_graph_nodes, "the text projection");
    out.data.resize(n * out.n_embd);
    ggml_tensor* x = nullptr;
    ggml_tensor* mask = nullptr;
    ggml_tensor* result = nullptr;
    runner.run(
        [&](ggml_context* ctx) {
            ggml_cgraph* gf = ggml_new_graph_custom(ctx, runner.max_nodes(), false);
            x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, states.n_embd, static_cast<int64_t>(n));
            ggml_set_name(x, "text_t5_states");
            ggml_set_input(x);
            mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, static_cast<int64_t>(n));
            ggml_set_name(mask, "text_mask");
            ggml_set_input(mask);
            ggml_tensor* y = ggml_add(ctx, ggml_mul_mat(ctx, m.cond.text_proj_w, x), m.cond.text_proj_b);
            // Padding rows become exact zeros (HF: enc_to_dec_proj(states) * attention_mask[..., None]).
            result = ggml_mul(ctx, y, mask);
            ggml_set_name(result, "text_states");
            ggml_set_output(result);
            ggml_build_forward_expand(gf, result);
            return gf;
        },
        [&] {
            ggml_backend_tensor_set(x, states.data.data(), 0, ggml_nbytes(x));
            ggml_backend_tensor_set(mask, batch.mask.data(), 0, ggml_nbytes(mask));
        },
        [&] { ggml_backend_tensor_get(result, out.data.data(), 0, ggml_nbytes(result)); });
    return out;
}

text_condition condition_on_text(const model& m, text_batch batch) {
    graph_runner runner(m.backends, t5_graph_nodes(m.hparams.t5));
    text_condition c;
    c.states = project_text(m, runner, encode_t5(m, runner, batch), batch);
    c.batch = std::move(batch);
    return c;
}

}  // namespace mg
