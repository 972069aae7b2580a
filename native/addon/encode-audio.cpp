// encodeAudio(model, pcm) -> Promise<{ codes, codebooks, frames, embeddings }>: EnCodec encode of one mono
// waveform at the codec's sample rate on a worker thread, with as many quantizers as the LM has codebooks per
// audio channel (the codes an audio prompt needs). `embeddings` is the encoder output before quantisation,
// [hidden, frames] row-major, for parity checks.
#include <memory>
#include <vector>

#include "addon.h"
#include "codec/decoder.h"
#include "codec/encoder.h"
#include "js-args.h"
#include "model/model.h"
#include "promise-worker.h"

namespace mg_addon {

class encode_audio_worker : public promise_worker {
  public:
    encode_audio_worker(Napi::Env env, std::shared_ptr<mg::model> model, std::vector<float> pcm)
        : promise_worker(env, "musicgen:encodeAudio", "encoding audio"),
          model_(std::move(model)),
          pcm_(std::move(pcm)) {}

  protected:
    void compute() override {
        const mg::lm_hparams& lm = model_->hparams.lm;
        const auto n_q = static_cast<int32_t>(lm.n_codebooks / lm.audio_channels);
        mg::graph_runner runner = mg::new_encoder_runner(*model_);
        result_ = mg::encodec_encode(*model_, runner, pcm_.data(), static_cast<int64_t>(pcm_.size()), n_q);
    }

    Napi::Value result(Napi::Env env) override {
        Napi::Object out = Napi::Object::New(env);
        out.Set("codes", to_js(env, result_.codes));
        out.Set("codebooks", result_.n_q);
        out.Set("frames", result_.frames);
        out.Set("embeddings", to_js(env, result_.embeddings));
        return out;
    }

  private:
    std::shared_ptr<mg::model> model_;
    std::vector<float> pcm_;
    mg::encodec_encoding result_;
};

static Napi::Value encode_audio(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !is_typed_array<float>(info[1])) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "encodeAudio(model, pcm: Float32Array)");
    }
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    Napi::Float32Array pcm = info[1].As<Napi::Float32Array>();
    // Copied: the worker must not read JS memory that the caller may change or free meanwhile.
    std::vector<float> copy(pcm.Data(), pcm.Data() + pcm.ElementLength());
    return (new encode_audio_worker(env, std::move(model), std::move(copy)))->start();
}

void register_encode_audio(Napi::Env env, Napi::Object exports) {
    exports.Set("encodeAudio", Napi::Function::New(env, encode_audio, "encodeAudio"));
}

}  // namespace mg_addon
