// chromaFeatures(pcm, params) and the diagnostics chromaFilterBank(params): MusicGen-Melody's chroma front end
// (native/src/chroma.h). lib/melody.ts decodes, downmixes and resamples before calling in.
#include "melody/chroma.h"

#include <algorithm>
#include <string>
#include <vector>

#include "addon.h"
#include "js-args.h"
#include "promise-worker.h"

namespace mg_addon {

// { sampleRate, nFft, hopLength, numChroma, chunkLength }, all required integers; the core re-checks ranges.
static mg::melody_params melody_params_from_js(Napi::Env env, const Napi::Value& value) {
    if (!value.IsObject()) {
        throw_error(env, "ERR_INVALID_ARG_TYPE",
                    "params must be { sampleRate, nFft, hopLength, numChroma, chunkLength }");
    }
    const Napi::Object o = value.As<Napi::Object>();
    auto get = [&](const char* name) {
        if (o.Get(name).IsUndefined())
            throw_error(env, "ERR_MUSICGEN_INVALID_OPTION", std::string(name) + " is required");
        return static_cast<int64_t>(number_option(o, name, 0, number_kind::int32));
    };
    mg::melody_params p;
    p.sample_rate = get("sampleRate");
    p.n_fft = get("nFft");
    p.hop_length = get("hopLength");
    p.num_chroma = get("numChroma");
    p.chunk_length = get("chunkLength");
    std::string code, message;
    if (!capture_error([&] { mg::check_melody_params(p); }, "checking chroma parameters", code, message)) {
        throw_error(env, code.c_str(), message);
    }
    return p;
}

class chroma_worker : public promise_worker {
  public:
    chroma_worker(Napi::Env env, std::vector<float> pcm, const mg::melody_params& params)
        : promise_worker(env, "musicgen:chromaFeatures", "computing chroma features"),
          pcm_(std::move(pcm)),
          params_(params) {}

  protected:
    void compute() override { result_ = mg::extract_chroma(pcm_.data(), static_cast<int64_t>(pcm_.size()), params_); }

    Napi::Value result(Napi::Env env) override {
        Napi::Object out = Napi::Object::New(env);
        out.Set("frames", static_cast<double>(result_.frames));
        out.Set("prequant", to_js(env, result_.prequant));
        out.Set("onehot", to_js(env, result_.onehot));
        return out;
    }

  private:
    std::vector<float> pcm_;
    mg::melody_params params_;
    mg::chroma_result result_;
};

// chromaFeatures(pcm: Float32Array, params): Promise<{ frames, prequant, onehot }>
static Napi::Value chroma_features(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 2 || !is_typed_array<float>(info[0])) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "chromaFeatures(pcm: Float32Array, params: object)");
    }
    const mg::melody_params params = melody_params_from_js(env, info[1]);
    Napi::Float32Array pcm = info[0].As<Napi::Float32Array>();
    // Copied on this thread (JS may change or detach the buffer while the worker runs); only the samples
    // the extractor keeps (chunkLength seconds) are needed.
    const size_t kept = std::min(pcm.ElementLength(), static_cast<size_t>(params.chunk_length * params.sample_rate));
    std::vector<float> samples(pcm.Data(), pcm.Data() + kept);
    return (new chroma_worker(env, std::move(samples), params))->start();
}

// chromaFilterBank(params): Float32Array [numChroma, nFft / 2 + 1]
static Napi::Value chroma_filter_bank(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 1) throw_error(env, "ERR_INVALID_ARG_TYPE", "chromaFilterBank(params: object)");
    const mg::melody_params params = melody_params_from_js(env, info[0]);
    std::vector<double> bank = mg::chroma_filter_bank(params);
    return to_js(env, std::vector<float>(bank.begin(), bank.end()));
}

void register_chroma(Napi::Env env, Napi::Object exports) {
    exports.Set("chromaFeatures", Napi::Function::New(env, chroma_features, "chromaFeatures"));
    exports.Set("chromaFilterBank", Napi::Function::New(env, chroma_filter_bank, "chromaFilterBank"));
}

}  // namespace mg_addon
