// generate(model, prompts, options, onStep?) -> Promise<codes> with an abort() method, and the diagnostics
// entry lmForward(model, prompts, ids, guidanceScale, chroma?) -> Promise<logits and states>. Both run on a libuv
// worker thread; progress reaches JS through AsyncProgressQueueWorker, which delivers every queued step
// before the promise settles.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "runtime/error.h"
#include "generation-args.h"
#include "lm/generation.h"
#include "runtime/openmp-threads.h"
#include "promise-worker.h"
#include "lm/sampling.h"

namespace mg_addon {

// ---------------------------------------------------------------------------------------------------------------
// generate

struct step_progress {
    int32_t step;
    int32_t total;
};

class generate_worker : public Napi::AsyncProgressQueueWorker<step_progress> {
  public:
    generate_worker(Napi::Env env, std::shared_ptr<mg::model> model, mg::generation_request request,
                    Napi::Value on_step, std::shared_ptr<std::atomic<bool>> abort)
        : Napi::AsyncProgressQueueWorker<step_progress>(env, "musicgen:generate"),
          deferred_(Napi::Promise::Deferred::New(env)),
          model_(std::move(model)),
          request_(std::move(request)),
          abort_(std::move(abort)) {
        if (on_step.IsFunction()) on_step_ = Napi::Persistent(on_step.As<Napi::Function>());
    }

    Napi::Promise promise() const { return deferred_.Promise(); }

  protected:
    void Execute(const ExecutionProgress& progress) override {
        const mg::openmp_threads_release release;
        const bool report = !on_step_.IsEmpty();
        std::string message;
        const bool ok = capture_error(
            [&] {
                result_ = mg::generate_codes(
                    *model_, request_,
                    [&](int32_t step, int32_t total) {
                        if (report) {
                            const step_progress p{step, total};
                            progress.Send(&p, 1);
                        }
                    },
                    *abort_);
            },
            "generating", code_, message);
        if (!ok) SetError(message);
    }

    void OnProgress(const step_progress* data, size_t count) override {
        if (on_step_.IsEmpty() || !callback_error_.IsEmpty()) return;
        Napi::HandleScope scope(Env());
        for (size_t i = 0; i < count; ++i) {
            try {
                on_step_.Call({Napi::Number::New(Env(), data[i].step), Napi::Number::New(Env(), data[i].total)});
            } catch (const Napi::Error& e) {
                // A throwing callback stops the run and becomes its rejection.
                callback_error_ = Napi::Persistent(e.Value());
                abort_->store(true);
                return;
            }
        }
    }

    void OnOK() override {
        if (!callback_error_.IsEmpty()) {
            deferred_.Reject(callback_error_.Value());
            return;
        }
        Napi::Env env = Env();
        Napi::Object out = Napi::Object::New(env);
        out.Set("codes", to_js(env, result_.codes));
        out.Set("batch", result_.n_batch);
        out.Set("codebooks", result_.n_codebooks);
        out.Set("frames", result_.n_frames);
        deferred_.Resolve(out);
    }

    void OnError(const Napi::Error& e) override {
        if (!callback_error_.IsEmpty()) {
            deferred_.Reject(callback_error_.Value());
            return;
        }
        deferred_.Reject(coded_error(Env(), code_, e.Message()).Value());
    }

  private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<mg::model> model_;
    mg::generation_request request_;
    std::shared_ptr<std::atomic<bool>> abort_;
    Napi::FunctionReference on_step_;
    Napi::ObjectReference callback_error_;  // what a throwing onStep threw
    mg::generated_codes result_;
    std::string code_;
};

// generate(model, prompts, { frames, topK, topP, temperature, guidanceScale, seed }, onStep?)
//   -> Promise<{ codes, batch, codebooks, frames }> & { abort(): void }
static Napi::Value generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[2].IsObject()) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "generate(model, prompts: string[], options: object, onStep?)");
    }
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    mg::generation_request request = generation_request_from_js(env, *model, info[1], info[2].As<Napi::Object>());
    if (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsFunction()) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "onStep must be a function");
    }

    auto abort = std::make_shared<std::atomic<bool>>(false);
    auto* worker = new generate_worker(env, std::move(model), std::move(request),
                                       info.Length() > 3 ? info[3] : env.Undefined(), abort);
    Napi::Promise promise = worker->promise();
    // Checked before every LM step, so an abort lands within one step.
    promise.Set("abort", Napi::Function::New(
                             env,
                             [abort](const Napi::CallbackInfo& call) {
                                 abort->store(true);
                                 return call.Env().Undefined();
                             },
                             "abort"));
    worker->Queue();  // deletes itself when done
    return promise;
}

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

// lmForward(model, prompts: string[], ids: Int32Array [B, K, T], guidanceScale: number, chroma?) -> Promise<...>
// (chroma as generate()'s option).
static Napi::Value lm_forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[2].IsTypedArray() || !info[3].IsNumber()) {
        throw_error(env, "ERR_INVALID_ARG_TYPE",
                    "lmForward(model, prompts: string[], ids: Int32Array, guidanceScale: number, chroma?)");
    }
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    std::vector<std::string> prompts = prompts_from_js(env, info[1]);
    Napi::TypedArray typed = info[2].As<Napi::TypedArray>();
    if (typed.TypedArrayType() != napi_int32_array) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "ids must be an Int32Array");
    }
    Napi::Int32Array ids_js = typed.As<Napi::Int32Array>();
    const size_t per_token = prompts.size() * model->hparams.lm.n_codebooks;
    if (ids_js.ElementLength() == 0 || ids_js.ElementLength() % per_token != 0) {
        throw_error(env, "ERR_MUSICGEN_INVALID_OPTION",
                    "ids must hold [prompts, codebooks, T] = [" + std::to_string(prompts.size()) + ", " +
                        std::to_string(model->hparams.lm.n_codebooks) + ", T] values");
    }
    std::vector<int32_t> ids(ids_js.Data(), ids_js.Data() + ids_js.ElementLength());
    const double scale = info[3].As<Napi::Number>().DoubleValue();
    if (!(scale >= 0 && scale <= 1e6)) throw_error(env, "ERR_MUSICGEN_INVALID_OPTION", "guidanceScale must be >= 0");
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
    if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsObject() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "warpScores(scores: Float32Array, vocab: number, options: object)");
    }
    Napi::Float32Array in = info[0].As<Napi::Float32Array>();
    const double vocab = info[1].As<Napi::Number>().DoubleValue();
    if (!(vocab >= 1 && vocab <= (1 << 24) && std::floor(vocab) == vocab) ||
        in.ElementLength() % static_cast<size_t>(vocab) != 0) {
        throw_error(env, "ERR_MUSICGEN_INVALID_OPTION", "vocab must be a positive integer dividing the scores' length");
    }
    const auto n = static_cast<size_t>(vocab);
    Napi::Object options = info[2].As<Napi::Object>();
    mg::sampling_params sp;
    sp.top_k = static_cast<int32_t>(number_option(env, options, "topK", 0, 0, vocab, true));
    sp.top_p = static_cast<float>(number_option(env, options, "topP", 0, 0, 1, false));
    sp.temperature = static_cast<float>(number_option(env, options, "temperature", 1, 1e-6, 1e6, false));

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

void register_generate(Napi::Env env, Napi::Object exports) {
    exports.Set("generate", Napi::Function::New(env, generate, "generate"));
    exports.Set("lmForward", Napi::Function::New(env, lm_forward, "lmForward"));
    exports.Set("warpScores", Napi::Function::New(env, warp_scores, "warpScores"));
}

}  // namespace mg_addon
