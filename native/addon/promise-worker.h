// Async work that settles a Promise, shared by every addon entry point: the worker thread runs compute()
// (which may throw mg::error or std::bad_alloc), the JS thread turns the result into a value. Rejections keep
// the core's error code as the JS error's `code`, so the TS facade can map them to typed errors.
#pragma once
#include <napi.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "runtime/openmp-threads.h"

namespace mg_addon {

// Runs fn, turning mg::error / std::bad_alloc into (code, message); true when fn succeeded.
bool capture_error(const std::function<void()>& fn, const char* what, std::string& code, std::string& message);

// The one way a native failure becomes a JS error: an Error (TypeError for ERR_INVALID_ARG_TYPE, RangeError for
// ERR_INVALID_ARG_VALUE) with a `code` property. throw_error (addon.h) throws one; workers reject with one.
Napi::Error coded_error(Napi::Env env, const std::string& code, const std::string& message);

template <typename T, typename Array>
Array to_js_array(Napi::Env env, const std::vector<T>& values) {
    Array out = Array::New(env, values.size());
    std::copy(values.begin(), values.end(), out.Data());
    return out;
}
inline Napi::Float32Array to_js(Napi::Env env, const std::vector<float>& v) {
    return to_js_array<float, Napi::Float32Array>(env, v);
}
inline Napi::Int32Array to_js(Napi::Env env, const std::vector<int32_t>& v) {
    return to_js_array<int32_t, Napi::Int32Array>(env, v);
}

class promise_worker : public Napi::AsyncWorker {
  public:
    // `what` completes "out of memory while ..." messages, e.g. "decoding codes".
    promise_worker(Napi::Env env, const char* resource_name, const char* what)
        : Napi::AsyncWorker(env, resource_name), deferred_(Napi::Promise::Deferred::New(env)), what_(what) {}

    // Queues the worker (it deletes itself when done) and returns its promise.
    Napi::Promise start() {
        Napi::Promise promise = deferred_.Promise();
        Queue();
        return promise;
    }

  protected:
    virtual void compute() = 0;                     // worker thread
    virtual Napi::Value result(Napi::Env env) = 0;  // JS thread, after compute() succeeded

  private:
    void Execute() final {
        const mg::openmp_threads_release release;
        std::string message;
        if (!capture_error([this] { compute(); }, what_, code_, message)) SetError(message);
    }
    void OnOK() final {
        try {
            deferred_.Resolve(result(Env()));
        } catch (const Napi::Error& e) {
            deferred_.Reject(e.Value());
        }
    }
    void OnError(const Napi::Error& e) final { deferred_.Reject(coded_error(Env(), code_, e.Message()).Value()); }

    Napi::Promise::Deferred deferred_;
    const char* what_;
    std::string code_;
};

}  // namespace mg_addon
