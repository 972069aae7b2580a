// decodeCodes(model, codes, codebooks, frames[, stages]) -> Promise: EnCodec decode of one mono code
// matrix on a worker thread. With `stages` (decoder stage indices, -1 = RVQ sum) it resolves to
// { audio, stages: [{ index, channels, length, data }], computeBytes } so a parity failure can be localised;
// computeBytes is the compute memory the decode's graph runner allocated (its largest graph), which a test
// compares with the facade's memory estimate (pass `stages: []` to measure without tap copies).
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "codec/decoder.h"
#include "codec/workspace.h"
#include "js-args.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "promise-worker.h"
#include "runtime/error.h"

namespace mg_addon {

class decode_codes_worker : public promise_worker {
  public:
    decode_codes_worker(Napi::Env env, std::shared_ptr<mg::model> model, std::vector<int32_t> codes, int32_t n_q,
                        int32_t frames, std::vector<mg::encodec_tap> taps, bool debug)
        : promise_worker(env, "musicgen:decodeCodes", "decoding codes"),
          model_(std::move(model)),
          codes_(std::move(codes)),
          n_q_(n_q),
          frames_(frames),
          taps_(std::move(taps)),
          debug_(debug) {}

  protected:
    void compute() override {
        // The diagnostic form measures this decode's compute memory, so it computes in a workspace of its own.
        const mg::encodec_workspace_lease workspace =
            debug_ ? mg::fresh_encodec_workspace(*model_) : mg::acquire_encodec_workspace(*model_);
        audio_ = mg::encodec_decode(*model_, *workspace, codes_.data(), n_q_, frames_, debug_ ? &taps_ : nullptr);
        compute_bytes_ = workspace->runner.compute_buffer_bytes();
    }

    Napi::Value result(Napi::Env env) override {
        Napi::Float32Array audio = to_js(env, audio_);
        if (!debug_) return audio;
        Napi::Array stages = Napi::Array::New(env, taps_.size());
        for (size_t i = 0; i < taps_.size(); ++i) {
            Napi::Object stage = Napi::Object::New(env);
            stage.Set("index", taps_[i].stage);
            stage.Set("channels", static_cast<double>(taps_[i].channels));
            stage.Set("length", static_cast<double>(taps_[i].length));
            stage.Set("data", to_js(env, taps_[i].data));
            stages.Set(static_cast<uint32_t>(i), stage);
        }
        Napi::Object result = Napi::Object::New(env);
        result.Set("audio", audio);
        result.Set("stages", stages);
        result.Set("computeBytes", static_cast<double>(compute_bytes_));
        return result;
    }

  private:
    std::shared_ptr<mg::model> model_;
    std::vector<int32_t> codes_;
    int32_t n_q_;
    int32_t frames_;
    std::vector<mg::encodec_tap> taps_;
    bool debug_;
    std::vector<float> audio_;
    size_t compute_bytes_ = 0;
};

static Napi::Value decode_codes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* usage = "decodeCodes(model, codes: Int32Array, codebooks: number, frames: number, stages?: number[])";
    if (info.Length() < 4 || !is_typed_array<int32_t>(info[1])) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", usage);
    }
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    Napi::Int32Array codes = info[1].As<Napi::Int32Array>();
    const int32_t n_q =
        static_cast<int32_t>(integer_arg(info[2], "codebooks", 1, INT32_MAX, "ERR_MUSICGEN_INVALID_OPTION"));
    const int32_t frames =
        static_cast<int32_t>(integer_arg(info[3], "frames", 1, INT32_MAX, "ERR_MUSICGEN_INVALID_OPTION"));
    if (static_cast<double>(codes.ElementLength()) != static_cast<double>(n_q) * frames) {
        throw_error(env, "ERR_MUSICGEN_INVALID_OPTION",
                    "codes has " + std::to_string(codes.ElementLength()) + " elements, expected codebooks x frames = " +
                        std::to_string(static_cast<int64_t>(n_q) * frames));
    }
    std::vector<mg::encodec_tap> taps;
    const bool debug = info.Length() > 4 && !info[4].IsUndefined();
    if (debug) {
        if (!info[4].IsArray()) throw_error(env, "ERR_INVALID_ARG_TYPE", usage);
        Napi::Array stages = info[4].As<Napi::Array>();
        for (uint32_t i = 0; i < stages.Length(); ++i) {
            Napi::Value v = stages.Get(i);
            const int64_t index = integer_arg(v, "stages[" + std::to_string(i) + "] (a stage index, -1 = RVQ sum)", -1,
                                              1000000, "ERR_MUSICGEN_INVALID_OPTION");
            mg::encodec_tap tap;
            tap.stage = static_cast<int>(index);
            taps.push_back(tap);
        }
    }
    std::vector<int32_t> copy(codes.Data(), codes.Data() + codes.ElementLength());
    return (new decode_codes_worker(env, std::move(model), std::move(copy), n_q, frames, std::move(taps), debug))
        ->start();
}

// The model's audio from one prompt's codes [codebooks, frames] (every codebook, stereo rows interleaved): one
// waveform per channel, split by the pipeline's own helper (mg::decode_channels).
class decode_audio_worker : public promise_worker {
  public:
    decode_audio_worker(Napi::Env env, std::shared_ptr<mg::model> model, std::vector<int32_t> codes, int32_t frames)
        : promise_worker(env, "musicgen:decodeAudio", "decoding codes"),
          model_(std::move(model)),
          codes_(std::move(codes)),
          frames_(frames) {}

  protected:
    void compute() override { audio_ = mg::decode_channels(*model_, codes_.data(), frames_); }

    Napi::Value result(Napi::Env env) override {
        Napi::Array out = Napi::Array::New(env, audio_.size());
        for (size_t c = 0; c < audio_.size(); ++c) out.Set(static_cast<uint32_t>(c), to_js(env, audio_[c]));
        return out;
    }

  private:
    std::shared_ptr<mg::model> model_;
    std::vector<int32_t> codes_;
    int32_t frames_;
    std::vector<std::vector<float>> audio_;
};

// decodeAudio(model, codes: Int32Array [codebooks, frames], frames) -> Promise<Float32Array[]>
static Napi::Value decode_audio(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !is_typed_array<int32_t>(info[1])) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "decodeAudio(model, codes: Int32Array, frames: number)");
    }
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    Napi::Int32Array codes = info[1].As<Napi::Int32Array>();
    const int32_t frames =
        static_cast<int32_t>(integer_arg(info[2], "frames", 1, INT32_MAX, "ERR_MUSICGEN_INVALID_OPTION"));
    const double expected = static_cast<double>(model->hparams.lm.n_codebooks) * frames;
    if (static_cast<double>(codes.ElementLength()) != expected) {
        throw_error(env, "ERR_INVALID_ARG_TYPE",
                    "codes has " + std::to_string(codes.ElementLength()) +
                        " elements, expected codebooks x frames = " + std::to_string(static_cast<int64_t>(expected)));
    }
    std::vector<int32_t> copy(codes.Data(), codes.Data() + codes.ElementLength());
    return (new decode_audio_worker(env, std::move(model), std::move(copy), frames))->start();
}

void register_decode_codes(Napi::Env env, Napi::Object exports) {
    exports.Set("decodeCodes", Napi::Function::New(env, decode_codes, "decodeCodes"));
    exports.Set("decodeAudio", Napi::Function::New(env, decode_audio, "decodeAudio"));
}

}  // namespace mg_addon
