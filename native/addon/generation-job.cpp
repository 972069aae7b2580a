// generate(model, tokens, options, onMessage, onStep?) -> { pull(n), abort() }: the one generation job behind both
// MusicGen.generate() and MusicGen.stream() (native/src/pipeline/pipeline.h). The pipeline runs on a thread of its
// own (a long generation must not hold one of libuv's few pool threads) and hands its chunks (final samples of
// every prompt and channel; the codes with the last one when asked) to JS through a ThreadSafeFunction.
// generate() asks for one chunk (chunkFrames 0) and the codes; stream() for chunks of chunkFrames frames.
//
// Backpressure is by credits: the thread may only hand over a chunk while it holds one, JS grants them
// (`highWaterMark` up front, then one per chunk its consumer took), and the thread waits for a credit on a
// condition variable that abort() also wakes. So at most `highWaterMark` chunks are ever produced but not
// consumed; progress messages (onStep) need no credit. The TSFN's queue is unbounded, so BlockingCall never waits.
//
// The TSFN keeps the event loop alive only while JS holds unused credits (someone is waiting for audio); a
// job nobody reads does not keep the process alive, and at exit the TSFN finalizer aborts and joins.
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
#include "js-args.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "promise-worker.h"
#include "runtime/error.h"

namespace mg_addon {

namespace {

// One hand-over to JS: a chunk, a progress step (step > 0), or an error when code is set.
struct generation_job;
struct job_message {
    generation_job* job = nullptr;  // set on chunks; the job outlives every delivery (the TSFN finalizer holds it)
    mg::pipeline_chunk chunk;
    int32_t step = 0;
    int32_t total = 0;
    std::string code;
    std::string message;
};

struct generation_job {
    std::shared_ptr<mg::model> model;
    mg::pipeline_request request;
    bool report_steps = false;

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

    void send(job_message* message) {
        if (tsfn.BlockingCall(message, deliver) != napi_ok) {
            delete message;  // the environment is shutting down
            throw mg::error(mg::error_code::aborted, "generation aborted: the JS environment is closing");
        }
    }

    static void deliver(Napi::Env env, Napi::Function on_message, job_message* raw) {
        const std::unique_ptr<job_message> message(raw);
        if (env == nullptr) return;  // TSFN torn down with this message still queued
        if (!message->code.empty()) {
            on_message.Call({coded_error(env, message->code, message->message).Value()});
            return;
        }
        if (message->step > 0) {
            on_message.Call({Napi::Number::New(env, message->step), Napi::Number::New(env, message->total)});
            return;
        }
        const mg::pipeline_chunk& c = message->chunk;
        Napi::Array prompts = Napi::Array::New(env, c.audio.size());
        for (size_t b = 0; b < c.audio.size(); ++b) {
            Napi::Array channels = Napi::Array::New(env, c.audio[b].size());
            for (size_t ch = 0; ch < c.audio[b].size(); ++ch) {
                channels.Set(static_cast<uint32_t>(ch), to_js(env, c.audio[b][ch]));
            }
            prompts.Set(static_cast<uint32_t>(b), channels);
        }
        Napi::Object chunk = Napi::Object::New(env);
        chunk.Set("audio", prompts);
        chunk.Set("startSample", static_cast<double>(c.start_sample));
        chunk.Set("final", c.final);
        if (!c.codes.empty()) {
            chunk.Set("codes", to_js(env, c.codes));
            chunk.Set("frames", c.frames);
        }
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
            auto* failure = new job_message();
            failure->code = code;
            failure->message = message;
            // Fails only while the environment closes, when nobody is left to tell.
            if (tsfn.BlockingCall(failure, deliver) != napi_ok) delete failure;
        }
        tsfn.Release();
    }

    void generate() {
        mg::pipeline_events events;
        if (report_steps) {
            events.on_step = [this](int32_t step, int32_t total) {
                auto* progress = new job_message();
                progress->step = step;
                progress->total = total;
                send(progress);
            };
        }
        events.on_chunk = [this](mg::pipeline_chunk&& chunk) {
            auto message = std::make_unique<job_message>();
            message->job = this;
            message->chunk = std::move(chunk);
            take_credit();
            send(message.release());
        };
        mg::run_pipeline(*model, request, events, abort);
    }
};

}  // namespace

// generate(model, tokens: Int32Array[], { frames, topK, topP, temperature, guidanceScale, seed, promptCodes?,
//   promptFrames?, chroma?, chunkFrames, firstChunkFrames?, longForm?, codes?, highWaterMark }, onMessage(chunk | error
//   | step, total), reportSteps?) -> { pull(n), abort() }. Chunks are { audio: Float32Array[][] ([prompt][channel]),
//   startSample, final, codes?: Int32Array [prompt, codebook, frames], frames? }; with reportSteps, onMessage(step,
//   total) after every LM step; a failure (aborts included) arrives as an Error with a `code`.
static Napi::Value generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[2].IsObject() || !info[3].IsFunction()) {
        throw_error(env, "ERR_INVALID_ARG_TYPE",
                    "generate(model, tokens: Int32Array[], options: object, onMessage: function, reportSteps?)");
    }
    auto job = std::make_shared<generation_job>();
    job->model = model_from_js(info[0]);
    Napi::Object options = info[2].As<Napi::Object>();
    job->request = pipeline_request_from_js(env, info[1], options);
    job->report_steps = info.Length() > 4 && info[4].ToBoolean();
    const auto high_water_mark = static_cast<int32_t>(number_option(options, "highWaterMark", 1, number_kind::int32));
    if (high_water_mark < 1) throw_error(env, "ERR_INVALID_ARG_TYPE", "highWaterMark must be at least 1");
    job->credits = high_water_mark;
    job->js_outstanding = high_water_mark;

    // The finalizer runs on the JS thread once the generation thread released the TSFN (or when the
    // environment tears down first: then it cancels the thread and waits for it).
    job->tsfn =
        Napi::ThreadSafeFunction::New(env, info[3].As<Napi::Function>(), "musicgen:generate", 0, 1, [job](Napi::Env) {
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
                               const int64_t n = call.Length() > 0 ? integer_arg(call[0], "pull(n): n", 1, 64) : 1;
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

void register_generate(Napi::Env env, Napi::Object exports) {
    exports.Set("generate", Napi::Function::New(env, generate, "generate"));
}

}  // namespace mg_addon
