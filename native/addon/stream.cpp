// stream(model, prompts, options, onMessage) -> { pull(n), abort() }: generation with audio as it is made.
// The LM loop runs on a thread of its own (a long stream must not hold one of libuv's few pool threads), and
// every finished frame goes straight into one exact streaming EnCodec decoder per prompt and channel. Every
// `chunkFrames` frames the newly final samples travel to JS through a ThreadSafeFunction.
//
// Backpressure is by credits: the thread may only hand over a chunk while it holds one, JS grants them
// (`highWaterMark` up front, then one per chunk its consumer took), and the thread waits for a credit on a
// condition variable that abort() also wakes. So at most `highWaterMark` chunks are ever produced but not
// consumed, the TSFN queue (highWaterMark + 1 slots: the chunks and one error) never fills, and BlockingCall
// never waits — unlike a full TSFN queue, the credit wait can be cancelled.
//
// The TSFN keeps the event loop alive only while JS holds unused credits (someone is waiting for audio); a
// stream nobody reads does not keep the process alive, and at exit the TSFN finalizer aborts and joins.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "addon.h"
#include "codec/stream.h"
#include "runtime/error.h"
#include "generation-args.h"
#include "lm/generation.h"
#include "model/model.h"
#include "promise-worker.h"

namespace mg_addon {

namespace {

// One hand-over to JS: audio[prompt][channel] starting at start_sample, or an error when code is set.
struct stream_job;
struct stream_message {
    stream_job* job = nullptr;  // set on chunks; the job outlives every delivery (the TSFN finalizer holds it)
    std::vector<std::vector<std::vector<float>>> audio;
    double start_sample = 0;
    bool final = false;
    std::string code;
    std::string message;
};

struct stream_job {
    std::shared_ptr<mg::model> model;
    mg::generation_request request;
    int32_t chunk_frames = 0;
    // Long-form (lib/long-form.ts): windows of window_frames; each later window keeps the last
    // (window_frames - stride_frames) frames as its audio prompt and adds up to stride_frames, until
    // total_new_frames new frames exist. window_chroma[w - 1] is window w's melody chroma (melody models).
    int32_t window_frames = 0;
    int32_t stride_frames = 0;
    int32_t total_new_frames = 0;
    std::vector<std::vector<mg::chroma_features>> window_chroma;

    std::atomic<bool> abort{false};
    std::mutex mutex;
    std::condition_variable credit_ready;
    int32_t credits = 0;  // guarded by mutex

    Napi::ThreadSafeFunction tsfn;
    std::thread thread;
    // JS thread only: credits granted but not yet answered by a chunk (the TSFN is ref'd while > 0), and
    // whether the TSFN is gone (its finalizer ran), after which Ref/Unref must not touch it.
    int32_t js_outstanding = 0;
    bool finalized = false;

    void stop() {
        abort.store(true);
        const std::lock_guard<std::mutex> lock(mutex);
        credit_ready.notify_all();
    }

    // Blocks until a chunk may be sent; throws aborted when cancelled meanwhile.
    void take_credit() {
        std::unique_lock<std::mutex> lock(mutex);
        credit_ready.wait(lock, [this] { return credits > 0 || abort.load(); });
        if (abort.load()) throw mg::error(mg::error_code::aborted, "generation aborted");
        --credits;
    }

    void send(stream_message* message) {
        if (tsfn.BlockingCall(message, deliver) != napi_ok) {
            delete message;  // the environment is shutting down
            throw mg::error(mg::error_code::aborted, "generation aborted: the JS environment is closing");
        }
    }

    static void deliver(Napi::Env env, Napi::Function on_message, stream_message* raw) {
        const std::unique_ptr<stream_message> message(raw);
        if (env == nullptr) return;  // TSFN torn down with this message still queued
        if (!message->code.empty()) {
            on_message.Call({coded_error(env, message->code, message->message).Value()});
            return;
        }
        Napi::Array prompts = Napi::Array::New(env, message->audio.size());
        for (size_t b = 0; b < message->audio.size(); ++b) {
            Napi::Array channels = Napi::Array::New(env, message->audio[b].size());
            for (size_t c = 0; c < message->audio[b].size(); ++c) {
                channels.Set(static_cast<uint32_t>(c), to_js(env, message->audio[b][c]));
            }
            prompts.Set(static_cast<uint32_t>(b), channels);
        }
        Napi::Object chunk = Napi::Object::New(env);
        chunk.Set("audio", prompts);
        chunk.Set("startSample", message->start_sample);
        chunk.Set("final", message->final);
        message->job->delivered(env);
        on_message.Call({chunk});
    }

    // JS thread: a chunk answered one credit; with none left nobody waits for audio, so the stream stops
    // holding the event loop open.
    void delivered(Napi::Env env) {
        if (!finalized && js_outstanding > 0 && --js_outstanding == 0) tsfn.Unref(env);
    }

    // JS thread: the consumer took n chunks, so n more may be produced.
    void pull(Napi::Env env, int32_t n) {
        if (finalized) return;
        if (js_outstanding == 0) tsfn.Ref(env);
        js_outstanding += n;
        {
            const std::lock_guard<std::mutex> lock(mutex);
            credits += n;
        }
        credit_ready.notify_all();
    }

    // The thread body: generate, decode frame by frame, hand over chunks; then release the TSFN.
    void run() {
        std::string code, message;
        const bool ok = capture_error([this] { generate(); }, "streaming generation", code, message);
        if (!ok) {
            auto* failure = new stream_message();
            failure->code = code;
            failure->message = message;
            // Fails only while the environment closes, when nobody is left to tell.
            if (tsfn.BlockingCall(failure, deliver) != napi_ok) delete failure;
        }
        tsfn.Release();
    }

    void generate() {
        const mg::model& m = *model;
        const auto B = static_cast<int32_t>(request.prompts.size());
        const auto K = static_cast<int32_t>(m.hparams.lm.n_codebooks);
        const auto C = static_cast<int32_t>(m.hparams.lm.audio_channels);
        const int32_t Q = K / C;  // stereo: rows 2q / 2q + 1 are quantizer q of left / right (REFERENCE_NOTES §12)
        std::vector<std::unique_ptr<mg::encodec_stream>> decoders;  // [b * C + c]
        for (int32_t i = 0; i < B * C; ++i) decoders.push_back(std::make_unique<mg::encodec_stream>(m, Q));

        std::vector<int32_t> staged(static_cast<size_t>(chunk_frames) * B * K);  // [t][b][k]
        std::vector<int32_t> rows;                                               // one decoder's [q][t]
        int32_t n_staged = 0;
        double start_sample = 0;
        // Output frames = audio-prompt frames (reported first) + new frames, over every window.
        const bool long_form = window_frames > 0;
        const int32_t total = request.prompt_frames + (long_form ? total_new_frames : request.frames);
        std::vector<int32_t> history;  // long-form: every output frame's codes, [frame][b][k]
        int32_t skip = 0;              // frames of the current window that earlier windows already emitted
        int32_t offset = 0;            // output index of the current window's frame 0
        const auto on_frame = [&](int32_t window_frame, const int32_t* codes) {
            if (window_frame < skip) return;
            const int32_t frame = offset + window_frame;
            if (long_form) history.insert(history.end(), codes, codes + static_cast<size_t>(B) * K);
            std::copy(codes, codes + static_cast<size_t>(B) * K,
                      staged.begin() + static_cast<size_t>(n_staged) * B * K);
            ++n_staged;
            const bool last = frame == total - 1;
            if (n_staged < chunk_frames && !last) return;

            auto chunk = std::make_unique<stream_message>();
            chunk->job = this;
            chunk->audio.resize(B);
            for (int32_t b = 0; b < B; ++b) {
                for (int32_t c = 0; c < C; ++c) {
                    rows.resize(static_cast<size_t>(Q) * n_staged);
                    for (int32_t q = 0; q < Q; ++q) {
                        for (int32_t t = 0; t < n_staged; ++t) {
                            rows[static_cast<size_t>(q) * n_staged + t] =
                                staged[(static_cast<size_t>(t) * B + b) * K + q * C + c];
                        }
                    }
                    mg::encodec_stream& decoder = *decoders[static_cast<size_t>(b) * C + c];
                    std::vector<float> samples = decoder.push(rows.data(), n_staged);
                    if (last) {
                        const std::vector<float> tail = decoder.finish();
                        samples.insert(samples.end(), tail.begin(), tail.end());
                    }
                    chunk->audio[b].push_back(std::move(samples));
                }
            }
            n_staged = 0;
            // Identical decoders fed the same number of frames finalise the same number of samples.
            const size_t n_samples = chunk->audio[0][0].size();
            if (n_samples == 0 && !last) return;  // still inside the decoder's lookahead
            chunk->start_sample = start_sample;
            chunk->final = last;
            start_sample += static_cast<double>(n_samples);
            take_credit();
            send(chunk.release());
        };
        if (!long_form) {
            mg::generate_codes(m, request, nullptr, abort, on_frame);
            return;
        }
        mg::generation_request window = request;
        window.frames = window_frames - request.prompt_frames;
        mg::generate_codes(m, window, nullptr, abort, on_frame);
        const int32_t keep = window_frames - stride_frames;
        for (size_t w = 1; static_cast<int32_t>(history.size() / (static_cast<size_t>(B) * K)) < total; ++w) {
            const int32_t have = static_cast<int32_t>(history.size() / (static_cast<size_t>(B) * K));
            window.prompt_frames = keep;
            window.prompt_codes.assign(static_cast<size_t>(B) * K * keep, 0);
            for (int32_t b = 0; b < B; ++b) {
                for (int32_t k = 0; k < K; ++k) {
                    for (int32_t t = 0; t < keep; ++t) {
                        window.prompt_codes[(static_cast<size_t>(b) * K + k) * keep + t] =
                            history[(static_cast<size_t>(have - keep + t) * B + b) * K + k];
                    }
                }
            }
            window.frames = std::min(stride_frames, total - have);
            window.sampling.seed = request.sampling.seed + w;  // as lib/long-form.ts: seed + window index
            window.chroma = w - 1 < window_chroma.size() ? window_chroma[w - 1] : std::vector<mg::chroma_features>{};
            skip = keep;
            offset = have - keep;
            mg::generate_codes(m, window, nullptr, abort, on_frame);
        }
    }
};

}  // namespace

// stream(model, prompts: string[], { frames, topK, topP, temperature, guidanceScale, seed, chunkFrames,
//   highWaterMark }, onMessage(chunk | error)) -> { pull(n), abort() }. Chunks are { audio: Float32Array[][]
//   ([prompt][channel]), startSample, final }; a failure (aborts included) arrives as an Error with a `code`.
static Napi::Value stream(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[1].IsArray() || !info[2].IsObject() || !info[3].IsFunction()) {
        throw_error(env, "ERR_INVALID_ARG_TYPE",
                    "stream(model, prompts: string[], options: object, onMessage: function)");
    }
    auto job = std::make_shared<stream_job>();
    job->model = model_from_js(info[0]);
    Napi::Object options = info[2].As<Napi::Object>();
    job->request = generation_request_from_js(env, *job->model, info[1], options);
    job->chunk_frames = static_cast<int32_t>(number_option(env, options, "chunkFrames", 25, 1, 1 << 20, true));
    Napi::Value long_form = options.Get("longForm");
    if (!long_form.IsUndefined()) {
        if (!long_form.IsObject()) throw_error(env, "ERR_INVALID_ARG_TYPE", "longForm must be an object");
        Napi::Object lf = long_form.As<Napi::Object>();
        job->window_frames = static_cast<int32_t>(number_option(env, lf, "window", 0, 2, 1 << 20, true));
        job->stride_frames = static_cast<int32_t>(number_option(env, lf, "stride", 0, 1, job->window_frames - 1, true));
        job->total_new_frames = static_cast<int32_t>(number_option(env, lf, "total", 0, 1, 1 << 24, true));
        if (job->request.prompt_frames >= job->window_frames) {
            throw_error(env, "ERR_MUSICGEN_INVALID_OPTION", "the audio prompt must be shorter than the window");
        }
        Napi::Value chroma = lf.Get("chroma");
        if (chroma.IsArray()) {
            Napi::Array windows = chroma.As<Napi::Array>();
            for (uint32_t w = 0; w < windows.Length(); ++w) {
                job->window_chroma.push_back(chroma_from_js(env, windows.Get(w), job->request.prompts.size()));
            }
        }
    }
    const auto high_water_mark = static_cast<int32_t>(number_option(env, options, "highWaterMark", 2, 1, 64, true));
    job->credits = high_water_mark;
    job->js_outstanding = high_water_mark;

    // The finalizer runs on the JS thread once the generation thread released the TSFN (or when the
    // environment tears down first: then it cancels the thread and waits for it).
    job->tsfn = Napi::ThreadSafeFunction::New(env, info[3].As<Napi::Function>(), "musicgen:stream",
                                              static_cast<size_t>(high_water_mark) + 1, 1, [job](Napi::Env) {
                                                  job->finalized = true;
                                                  job->stop();
                                                  job->thread.join();
                                              });
    job->thread = std::thread([job] { job->run(); });

    Napi::Object handle = Napi::Object::New(env);
    // pull(n): the consumer took n chunks, so n more may be produced.
    handle.Set("pull", Napi::Function::New(
                           env,
                           [job](const Napi::CallbackInfo& call) {
                               const double n = call.Length() > 0 && call[0].IsNumber()
                                                    ? call[0].As<Napi::Number>().DoubleValue()
                                                    : 1;
                               if (!(n >= 1 && n <= 64 && std::floor(n) == n)) {
                                   throw_error(call.Env(), "ERR_INVALID_ARG_TYPE", "pull(n): n must be 1..64");
                               }
                               job->pull(call.Env(), static_cast<int32_t>(n));
                               return call.Env().Undefined();
                           },
                           "pull"));
    // Checked before every LM step and while waiting for a credit.
    handle.Set("abort", Napi::Function::New(
                            env,
                            [job](const Napi::CallbackInfo& call) {
                                job->stop();
                                return call.Env().Undefined();
                            },
                            "abort"));
    return handle;
}

void register_stream(Napi::Env env, Napi::Object exports) {
    exports.Set("stream", Napi::Function::New(env, stream, "stream"));
}

}  // namespace mg_addon
