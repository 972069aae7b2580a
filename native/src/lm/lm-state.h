// Per-run state of the MusicGen LM: its KV cache, the prompts' cross-attention K/V and mask, the graph
// runner and host staging buffers. The model's weights are only read, so any number of sessions can run
// on one model (each one owns its scratch memory).
#pragma once
#include <cstdint>
#include <vector>

#include "lm/musicgen-lm.h"
#include "melody/melody-conditioning.h"
#include "model/model.h"
#include "runtime/graph-runner.h"
#include "text/text-conditioning.h"

namespace mg {

// What one forward pass returns on the host.
struct lm_outputs {
    std::vector<float> logits;  // [n_rows, K, n_out, V] (HF's row order)
    std::vector<float> embd;    // [n_rows, n_tokens, H] when requested
    std::vector<float> hidden;  // [n_rows, n_tokens, H] when requested
};

class lm_session {
  public:
    // n_cond conditional rows, plus as many unconditional rows when `guided`; room for n_ctx positions.
    // `text` are the projected, masked text states [n_cond, n_text, H] and `text_mask` their [n_cond, n_text]
    // padding mask (1 = token); the cross-attention K/V are computed here, once.
    lm_session(const model& m, int32_t n_cond, bool guided, int32_t n_ctx, const text_states& text,
               const std::vector<float>& text_mask);
    // Melody variant: `prefix` holds every row's conditioning prefix (n_cond conditional rows, then as many
    // unconditional ones when guided); the first forward() prepends it, so the cache holds
    // prefix.n_tokens + n_ctx positions and code positions start at prefix.n_tokens.
    lm_session(const model& m, int32_t n_cond, bool guided, int32_t n_ctx, melody_prefix prefix);

    // Appends n_tokens positions to every row. ids: [n_rows, K, n_tokens] decoder codes in 0..codebook_size
    // (the last id is the pad/BOS code). Logits of the last position only unless all_logits.
    void forward(const int32_t* ids, int32_t n_tokens, bool all_logits, bool want_states, lm_outputs& out);

    int32_t n_rows() const { return cache_.n_rows; }
    int32_t n_cond() const { return cache_.n_cond; }
    int32_t n_past() const { return n_past_; }
    // How many times the generation step graph was built and allocated (once per lm_kv_block positions).
    int32_t step_builds() const { return step_builds_; }

  private:
    const model& m_;
    lm_cache cache_;
    graph_runner runner_;
    std::vector<float> text_mask_;  // [n_cond, n_text]
    melody_prefix prefix_;          // released once the first forward() has put it into the cache
    int32_t n_past_ = 0;

    // The replayable generation step (lm_step::n_kv_pad): the graph runner_ holds prepared, for this padded length.
    lm_forward_graph step_graph_;
    int32_t step_kv_pad_ = 0;  // 0: none prepared (a prefill through runner_.run() replaces it)
    int32_t step_builds_ = 0;

    void step(const int32_t* ids, lm_outputs& out);
    void set_step_inputs(const lm_forward_graph& g, int32_t n_kv);
    void stage_ids(const int32_t* ids, int32_t n_tokens);
    void stage_cross_mask(int32_t n_tokens);

    // Host staging for the graph inputs, reused across steps.
    std::vector<int32_t> ids_;
    std::vector<int32_t> positions_;
    std::vector<float> causal_mask_;
    std::vector<float> cross_mask_;
    std::vector<int64_t> k_rows_;
    std::vector<int64_t> v_rows_;
};

}  // namespace mg
