// encodeText(model, prompts) -> Promise<{...}>: tokenised batch, T5 last_hidden_state and the projected, masked
// text states (docs/reference-notes.md §2-4), computed on a worker thread. t5RelativeBucket(rel, numBuckets,
// maxDistance) exposes T5's bucket function so it can be checked against HF's table.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "js-args.h"
#include "promise-worker.h"
#include "runtime/error.h"
#include "text/t5-encoder.h"
#include "text/text-conditioning.h"

namespace mg_addon {

class encode_text_worker : public promise_worker {
  public:
    encode_text_worker(Napi::Env env, std::shared_ptr<mg::model> model, std::vector<std::string> prompts)
        : promise_worker(env, "musicgen:encodeText", "encoding text"),
          model_(std::move(model)),
          prompts_(std::move(prompts)) {}

  protected:
    void compute() override {
        const mg::model& m = *model_;
        batch_ = mg::tokenize_batch(m, prompts_);
        mg::graph_runner runner(m.backends, mg::t5_graph_nodes(m.hparams.t5));
        t5_ = mg::encode_t5(m, runner, batch_);
        states_ = mg::project_text(m, runner, t5_, batch_);
    }

    Napi::Value result(Napi::Env env) override {
        Napi::Object out = Napi::Object::New(env);
        out.Set("batch", batch_.n_batch);
        out.Set("tokens", batch_.n_tokens);
        out.Set("t5Dim", t5_.n_embd);
        out.Set("hiddenDim", states_.n_embd);
        out.Set("inputIds", to_js(env, batch_.ids));
        out.Set("attentionMask", to_js(env, batch_.mask));
        out.Set("t5States", to_js(env, t5_.data));
        out.Set("states", to_js(env, states_.data));
        return out;
    }

  private:
    std::shared_ptr<mg::model> model_;  // keeps the weights alive even if the JS Model is disposed meanwhile
    std::vector<std::string> prompts_;
    mg::text_batch batch_;
    mg::text_states t5_;
    mg::text_states states_;
};

static Napi::Value encode_text(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 2 || !info[1].IsArray()) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "encodeText(model: Model, prompts: string[])");
    }
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    const Napi::Array array = info[1].As<Napi::Array>();
    std::vector<std::string> prompts;
    prompts.reserve(array.Length());
    for (uint32_t i = 0; i < array.Length(); ++i) {
        const Napi::Value prompt = array.Get(i);
        if (!prompt.IsString()) {
            throw_error(env, "ERR_MUSICGEN_INVALID_OPTION", "prompts[" + std::to_string(i) + "] is not a string");
        }
        prompts.push_back(prompt.As<Napi::String>().Utf8Value());
    }
    return (new encode_text_worker(env, std::move(model), std::move(prompts)))->start();
}

static Napi::Value t5_relative_bucket(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 3 || !is_typed_array<int32_t>(info[0])) {
        throw_error(env, "ERR_INVALID_ARG_TYPE",
                    "t5RelativeBucket(rel: Int32Array, numBuckets: number, maxDistance: number)");
    }
    const int32_t n_buckets = static_cast<int32_t>(integer_arg(info[1], "t5RelativeBucket: numBuckets", 4, 1 << 20));
    const int32_t max_distance =
        static_cast<int32_t>(integer_arg(info[2], "t5RelativeBucket: maxDistance", 1, 1 << 30));
    const Napi::Int32Array rel = info[0].As<Napi::Int32Array>();
    Napi::Int32Array out = Napi::Int32Array::New(env, rel.ElementLength());
    for (size_t i = 0; i < rel.ElementLength(); ++i) out[i] = mg::t5_relative_bucket(rel[i], n_buckets, max_distance);
    return out;
}

void register_encode_text(Napi::Env env, Napi::Object exports) {
    exports.Set("encodeText", Napi::Function::New(env, encode_text, "encodeText"));
    exports.Set("t5RelativeBucket", Napi::Function::New(env, t5_relative_bucket, "t5RelativeBucket"));
}

}  // namespace mg_addon
