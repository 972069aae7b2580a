// decodeCodesStreaming(model, codes, codebooks, frames, chunkFrames[, pushAfterFinish[, reuseWorkspace]]) -> Promise
// of { chunks, lookaheadFrames, computeBytes }: diagnostics for the streaming EnCodec decoder (codec/stream.h). On a
// worker thread it pushes the mono code matrix chunkFrames frames at a time, then finishes; `chunks` holds what
// each push and finally finish() returned, computeBytes the compute memory the stream's graph runner allocated
// (its largest stage window; a test compares it with the facade's memory estimate). With pushAfterFinish it
// pushes the first chunk once more after finish() (which must be refused). The stream computes in a workspace of
// its own, so that computeBytes is this stream's, unless reuseWorkspace asks for one of the model's idle ones (as
// generation's streams do; for timing).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "codec/stream.h"
#include "codec/workspace.h"
#include "js-args.h"
#include "model/model.h"
#include "promise-worker.h"
#include "runtime/error.h"
#include "runtime/openmp-threads.h"

namespace mg_addon {

class decode_stream_worker : public Napi::AsyncWorker {
  public:
    decode_stream_worker(Napi::Env env, std::shared_ptr<mg::model> model, std::vector<int32_t> codes, int32_t n_q,
                         int32_t frames, int32_t chunk, bool push_after_finish, bool reuse_workspace)
        : Napi::AsyncWorker(env, "musicgen:decodeCodesStreaming"),
          deferred_(Napi::Promise::Deferred::New(env)),
          model_(std::move(model)),
          codes_(std::move(codes)),
          n_q_(n_q),
          frames_(frames),
          chunk_(chunk),
          push_after_finish_(push_after_finish),
          reuse_workspace_(reuse_workspace) {}

    Napi::Promise promise() const { return deferred_.Promise(); }

  protected:
    void Execute() override {
        const mg::openmp_threads_release release;
        try {
            lookahead_ = mg::encodec_stream::lookahead_frames(*model_);
            const mg::encodec_workspace_lease workspace =
                reuse_workspace_ ? mg::acquire_encodec_workspace(*model_) : mg::fresh_encodec_workspace(*model_);
            mg::encodec_stream stream(*model_, n_q_, *workspace);
            std::vector<int32_t> part;
            for (int32_t t0 = 0; t0 < frames_; t0 += chunk_) chunks_.push_back(push(stream, t0, part));
            chunks_.push_back(stream.finish());
            compute_bytes_ = stream.compute_buffer_bytes();
            if (push_after_finish_) push(stream, 0, part);
        } catch (const mg::error& e) {
            code_ = mg::error_code_name(e.code());
            SetError(e.what());
        } catch (const std::bad_alloc&) {
            code_ = "ERR_MUSICGEN_BACKEND";
            SetError("out of memory while decoding codes");
        }
    }

    void OnOK() override {
        Napi::Env env = Env();
        Napi::Array chunks = Napi::Array::New(env, chunks_.size());
        for (size_t i = 0; i < chunks_.size(); ++i) {
            Napi::Float32Array out = Napi::Float32Array::New(env, chunks_[i].size());
            std::copy(chunks_[i].begin(), chunks_[i].end(), out.Data());
            chunks.Set(static_cast<uint32_t>(i), out);
        }
        Napi::Object result = Napi::Object::New(env);
        result.Set("chunks", chunks);
        result.Set("lookaheadFrames", lookahead_);
        result.Set("computeBytes", static_cast<double>(compute_bytes_));
        deferred_.Resolve(result);
    }

    void OnError(const Napi::Error& e) override { deferred_.Reject(coded_error(Env(), code_, e.Message()).Value()); }

  private:
    // Pushes frames [t0, t0 + chunk) of every codebook, copied into `part` as their own [n_q, n] matrix.
    std::vector<float> push(mg::encodec_stream& stream, int32_t t0, std::vector<int32_t>& part) const {
        const int32_t n = std::min(chunk_, frames_ - t0);
        part.resize(static_cast<size_t>(n_q_) * n);
        for (int32_t q = 0; q < n_q_; ++q) {
            std::copy_n(codes_.begin() + static_cast<int64_t>(q) * frames_ + t0, n, part.begin() + int64_t{q} * n);
        }
        return stream.push(part.data(), n);
    }

    Napi::Promise::Deferred deferred_;
    std::shared_ptr<mg::model> model_;
    std::vector<int32_t> codes_;
    int32_t n_q_;
    int32_t frames_;
    int32_t chunk_;
    bool push_after_finish_;
    bool reuse_workspace_;
    int32_t lookahead_ = 0;
    size_t compute_bytes_ = 0;
    std::vector<std::vector<float>> chunks_;
    std::string code_;
};

static Napi::Value decode_codes_streaming(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !is_typed_array<int32_t>(info[1])) {
        throw_error(env, "ERR_INVALID_ARG_TYPE",
                    "decodeCodesStreaming(model, codes: Int32Array, codebooks: number, frames: number, "
                    "chunkFrames: number, pushAfterFinish?: boolean, reuseWorkspace?: boolean)");
    }
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    Napi::Int32Array codes = info[1].As<Napi::Int32Array>();
    const int32_t n_q =
        static_cast<int32_t>(integer_arg(info[2], "codebooks", 1, INT32_MAX, "ERR_MUSICGEN_INVALID_OPTION"));
    const int32_t frames =
        static_cast<int32_t>(integer_arg(info[3], "frames", 1, INT32_MAX, "ERR_MUSICGEN_INVALID_OPTION"));
    const int32_t chunk =
        static_cast<int32_t>(integer_arg(info[4], "chunkFrames", 1, INT32_MAX, "ERR_MUSICGEN_INVALID_OPTION"));
    if (static_cast<double>(codes.ElementLength()) != static_cast<double>(n_q) * frames) {
        throw_error(env, "ERR_MUSICGEN_INVALID_OPTION",
                    "codes has " + std::to_string(codes.ElementLength()) + " elements, expected codebooks x frames = " +
                        std::to_string(static_cast<int64_t>(n_q) * frames));
    }
    const bool push_after_finish = info.Length() > 5 && info[5].ToBoolean().Value();
    const bool reuse_workspace = info.Length() > 6 && info[6].ToBoolean().Value();
    std::vector<int32_t> copy(codes.Data(), codes.Data() + codes.ElementLength());
    auto* worker = new decode_stream_worker(env, std::move(model), std::move(copy), n_q, frames, chunk,
                                            push_after_finish, reuse_workspace);
    Napi::Promise promise = worker->promise();
    worker->Queue();  // the worker deletes itself when done
    return promise;
}

void register_decode_stream(Napi::Env env, Napi::Object exports) {
    exports.Set("decodeCodesStreaming", Napi::Function::New(env, decode_codes_streaming, "decodeCodesStreaming"));
}

}  // namespace mg_addon
