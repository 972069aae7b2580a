// Diagnostics entry points for the parity tests: lmForward(model, prompts, ids, guidanceScale, chroma?) -> Promise<
// logits and states> (one teacher-forced LM pass on a worker thread), and warpScores (HF's logits warpers as the
// sampler applies them).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "js-args.h"
#include "lm/generation.h"
#include "lm/sampling.h"
#include "promise-worker.h"
#include "runtime/error.h"
#include "runtime/openmp-threads.h"

namespace mg_addon {

// ---------------------------------------------------------------------------------------------------------------
// lmForward (diagnostics)

class forward_worker : public promise_worker {
  public:
    forward_worker(Napi::Env env, std::shared_ptr<mg::model> model, std::vector<std::string> prompts,
                   std::vector<int32_t> ids, int32_t n_tokens, float guidance_scale,
                   std::vector<mg::chroma_features> chroma)
        : promise_worker(env, "musicgen:lmForward", "running lmForward"),
          model_(std::move(model)),
          prompts_(std::move(prompts)),
          ids_(std::move(ids)),
          n_tokens_(n_tokens),
          guidance_scale_(guidance_scale),
          chroma_(std::move(chroma)) {}

  protected:
    void compute() override {
        result_ = mg::teacher_forced(*model_, prompts_, ids_, n_tokens_, guidance_scale_, chroma_);
    }

    Napi::Value result(Napi::Env env) override {
        const auto array = [&](const std::vector<float>& v) -> Napi::Value {
            if (v.empty()) return env.Null();
            return to_js(env, v);
        };
        Napi::Object out = Napi::Object::New(env);
        out.Set("cond", array(result_.cond));
        out.Set("uncond", array(result_.uncond));
        out.Set("guided", array(result_.guided));
        out.Set("inputsEmbeds", array(result_.embd));
        out.Set("lastHidden", array(result_.hidden));
        out.Set("batch", result_.n_batch);
        out.Set("rows", result_.n_rows);
        out.Set("codebooks", result_.n_codebooks);
        out.Set("tokens", result_.n_tokens);
        out.Set("vocab", result_.n_vocab);
        out.Set("hidden", result_.n_embd);
        out.Set("prefix", array(result_.prefix));
        out.Set("prefixTokens", result_.n_prefix);
        return out;
    }

  private:
    std::shared_ptr<mg::model> model_;
    std::vector<std::string> prompts_;
    std::vector<int32_t> ids_;
    int32_t n_tokens_;
    float guidance_scale_;
    std::vector<mg::chroma_features> chroma_;
    mg::teacher_forced_result result_;
};

// ---------------------------------------------------------------------------------------------------------------
// lmStepGraphs (diagnostics): a greedy generation of `frames` frames, reporting how often the LM's replayable step
// graph was built (once per lm_kv_block positions, not once per step).

class step_graphs_worker : public promise_worker {
  public:
    step_graphs_worker(Napi::Env env, std::shared_ptr<mg::model> model, std::vector<std::string> prompts,
                       int32_t frames)
        : promise_worker(env, "musicgen:lmStepGraphs", "running lmStepGraphs"),
          model_(std::move(model)),
          prompts_(std::move(prompts)),
          frames_(frames) {}

  protected:
    void compute() override {
        mg::generation_request request;
        request.frames = frames_;
        request.sampling.top_k = 1;
        const std::atomic<bool> abort{false};
        int32_t steps = 0;
        const mg::text_condition text = mg::condition_on_text(*model_, mg::tokenize_batch(*model_, prompts_));
        result_ = mg::generate_codes(
            *model_, text, request, [&](int32_t, int32_t) { ++steps; }, abort);
        steps_ = steps;
    }

    Napi::Value result(Napi::Env env) override {
        Napi::Object out = Napi::Object::New(env);
        out.Set("steps", steps_);
        out.Set("builds", result_.step_graph_builds);
        return out;
    }

  private:
    std::shared_ptr<mg::model> model_;
    std::vector<std::string> prompts_;
    int32_t frames_;
    int32_t steps_ = 0;
    mg::generated_codes result_;
};

static Napi::Value lm_step_graphs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3) throw_error(env, "ERR_INVALID_ARG_TYPE", "lmStepGraphs(model, prompts: string[], frames)");
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    std::vector<std::string> prompts = prompts_from_js(env, info[1]);
    const auto frames = static_cast<int32_t>(integer_arg(info[2], "frames", 1, INT32_MAX));
    return (new step_graphs_worker(env, std::move(model), std::move(prompts), frames))->start();
}

// lmForward(model, prompts: string[], ids: Int32Array [B, K, T], guidanceScale: number, chroma?) -> Promise<...>
// (chroma as generate()'s option).
static Napi::Value lm_forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !is_typed_array<int32_t>(info[2])) {
        throw_error(env, "ERR_INVALID_ARG_TYPE",
                    "lmForward(model, prompts: string[], ids: Int32Array, guidanceScale: number, chroma?)");
    }
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    std::vector<std::string> prompts = prompts_from_js(env, info[1]);
    Napi::Int32Array ids_js = info[2].As<Napi::Int32Array>();
    const size_t per_token = prompts.size() * model->hparams.lm.n_codebooks;
    if (ids_js.ElementLength() == 0 || ids_js.ElementLength() % per_token != 0) {
        throw_error(env, "ERR_MUSICGEN_INVALID_OPTION",
                    "ids must hold [prompts, codebooks, T] = [" + std::to_string(prompts.size()) + ", " +
                        std::to_string(model->hparams.lm.n_codebooks) + ", T] values");
    }
    std::vector<int32_t> ids(ids_js.Data(), ids_js.Data() + ids_js.ElementLength());
    const double scale = number_arg(info[3], "guidanceScale");
    const auto n_tokens = static_cast<int32_t>(ids.size() / per_token);
    std::vector<mg::chroma_features> chroma =
        chroma_from_js(env, info.Length() > 4 ? info[4] : env.Undefined(), prompts.size());
    return (new forward_worker(env, std::move(model), std::move(prompts), std::move(ids), n_tokens,
                               static_cast<float>(scale), std::move(chroma)))
        ->start();
}

// ---------------------------------------------------------------------------------------------------------------
// warpScores (diagnostics)

// warpScores(scores: Float32Array, vocab: number, { topK, topP, temperature })
//   -> { scores, probs }: HF's warpers applied to each row of `vocab` logits, and the softmax sample_token
//   draws from (exp(s - max) / sum, -inf entries give 0).
static Napi::Value warp_scores(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !is_typed_array<float>(info[0]) || !info[2].IsObject()) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "warpScores(scores: Float32Array, vocab: number, options: object)");
    }
    Napi::Float32Array in = info[0].As<Napi::Float32Array>();
    const auto n = static_cast<size_t>(integer_arg(info[1], "vocab", 1, 1 << 24, "ERR_MUSICGEN_INVALID_OPTION"));
    if (in.ElementLength() % n != 0) {
        throw_error(env, "ERR_MUSICGEN_INVALID_OPTION", "vocab must divide the scores' length");
    }
    Napi::Object options = info[2].As<Napi::Object>();
    mg::sampling_params sp;
    sp.top_k = static_cast<int32_t>(number_option(options, "topK", 0, number_kind::int32));
    sp.top_p = static_cast<float>(number_option(options, "topP", 0, number_kind::real));
    sp.temperature = static_cast<float>(number_option(options, "temperature", 1, number_kind::real));

    Napi::Float32Array scores = Napi::Float32Array::New(env, in.ElementLength());
    Napi::Float32Array probs = Napi::Float32Array::New(env, in.ElementLength());
    std::vector<float> row(n);
    for (size_t offset = 0; offset < in.ElementLength(); offset += n) {
        row.assign(in.Data() + offset, in.Data() + offset + n);
        mg::warp_scores(row, sp);
        const float max_score = *std::max_element(row.begin(), row.end());
        double total = 0.0;
        for (float s : row) total += std::exp(static_cast<double>(s) - max_score);
        for (size_t i = 0; i < n; ++i) {
            scores[offset + i] = row[i];
            probs[offset + i] = static_cast<float>(std::exp(static_cast<double>(row[i]) - max_score) / total);
        }
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("scores", scores);
    out.Set("probs", probs);
    return out;
}

void register_diagnostics(Napi::Env env, Napi::Object exports) {
    exports.Set("lmForward", Napi::Function::New(env, lm_forward, "lmForward"));
    exports.Set("warpScores", Napi::Function::New(env, warp_scores, "warpScores"));
    exports.Set("lmStepGraphs", Napi::Function::New(env, lm_step_graphs, "lmStepGraphs"));
}

}  // namespace mg_addon
