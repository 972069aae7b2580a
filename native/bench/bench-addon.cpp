// Measurements for bench/ (not part of the public API): benchLmProducts(model, rows, cond, reps) times the weight
// products of one LM step alone; benchCopyBandwidth(bytes, threads, reps) measures memory copy bandwidth, and
// benchDeviceCopyBandwidth(model, mib, reps) that of the memory the model's weights are in (a GPU's). These run on a
// worker thread (they take seconds). benchDeviceMemory() lists each device's free and total memory (the bench
// polls it for a GPU's peak). benchPeakMacs(int8, threads, reps) measures the CPU's multiply-add peak for the kernels'
// instruction set (0 where none applies). benchDecoderCost(model) counts the EnCodec decoder's multiply-adds per audio
// second and its LSTM's weight bytes per frame (decoder-floor.h). checkCpuMatvec(type, nIn, nOut, nCols, kernels, seed)
// runs one random product through a CPU kernel set and through ggml (test/cpu-kernels.test.ts).
#include <ggml-backend.h>

#include <cmath>
#include <memory>
#include <string>

#include "addon.h"
#include "decoder-floor.h"
#include "js-args.h"
#include "lm-floor.h"
#include "matvec-check.h"
#include "promise-worker.h"
#include "runtime/error.h"

namespace mg_addon {

class lm_products_worker : public promise_worker {
  public:
    lm_products_worker(Napi::Env env, std::shared_ptr<mg::model> model, int32_t rows, int32_t cond, int32_t reps)
        : promise_worker(env, "musicgen:benchLmProducts", "timing the LM's products"),
          model_(std::move(model)),
          rows_(rows),
          cond_(cond),
          reps_(reps) {}

  protected:
    void compute() override { timing_ = mg::time_lm_products(*model_, rows_, cond_, reps_); }
    Napi::Value result(Napi::Env env) override {
        Napi::Object out = Napi::Object::New(env);
        out.Set("weightBytes", timing_.weight_bytes);
        out.Set("products", timing_.n_products);
        out.Set("macs", timing_.macs);
        out.Set("medianMs", timing_.median_ms);
        out.Set("minMs", timing_.min_ms);
        return out;
    }

  private:
    std::shared_ptr<mg::model> model_;
    int32_t rows_, cond_, reps_;
    mg::lm_products_timing timing_;
};

class copy_bandwidth_worker : public promise_worker {
  public:
    copy_bandwidth_worker(Napi::Env env, int32_t mib, int32_t threads, int32_t reps)
        : promise_worker(env, "musicgen:benchCopyBandwidth", "measuring copy bandwidth"),
          mib_(mib),
          threads_(threads),
          reps_(reps) {}

  protected:
    void compute() override { bytes_per_s_ = mg::measure_copy_bandwidth(size_t(mib_) << 20, threads_, reps_); }
    Napi::Value result(Napi::Env env) override { return Napi::Number::New(env, bytes_per_s_); }

  private:
    int32_t mib_, threads_, reps_;
    double bytes_per_s_ = 0;
};

class device_copy_bandwidth_worker : public promise_worker {
  public:
    device_copy_bandwidth_worker(Napi::Env env, std::shared_ptr<mg::model> model, int32_t mib, int32_t reps)
        : promise_worker(env, "musicgen:benchDeviceCopyBandwidth", "measuring device copy bandwidth"),
          model_(std::move(model)),
          mib_(mib),
          reps_(reps) {}

  protected:
    void compute() override { bytes_per_s_ = mg::measure_device_copy_bandwidth(*model_, size_t(mib_) << 20, reps_); }
    Napi::Value result(Napi::Env env) override { return Napi::Number::New(env, bytes_per_s_); }

  private:
    std::shared_ptr<mg::model> model_;
    int32_t mib_, reps_;
    double bytes_per_s_ = 0;
};

static Napi::Value bench_lm_products(const Napi::CallbackInfo& info) {
    if (info.Length() != 4) throw_error(info.Env(), "ERR_INVALID_ARG_TYPE", "benchLmProducts(model, rows, cond, reps)");
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    const int32_t rows = static_cast<int32_t>(integer_arg(info[1], "rows", 1, 64));
    const int32_t cond = static_cast<int32_t>(integer_arg(info[2], "cond", 1, rows));
    const int32_t reps = static_cast<int32_t>(integer_arg(info[3], "reps", 1, 1000));
    return (new lm_products_worker(info.Env(), std::move(model), rows, cond, reps))->start();
}

static Napi::Value bench_copy_bandwidth(const Napi::CallbackInfo& info) {
    if (info.Length() != 3) throw_error(info.Env(), "ERR_INVALID_ARG_TYPE", "benchCopyBandwidth(mib, threads, reps)");
    const int32_t mib = static_cast<int32_t>(integer_arg(info[0], "mib", 1, 16384));
    const int32_t threads = static_cast<int32_t>(integer_arg(info[1], "threads", 1, 1024));
    const int32_t reps = static_cast<int32_t>(integer_arg(info[2], "reps", 1, 1000));
    return (new copy_bandwidth_worker(info.Env(), mib, threads, reps))->start();
}

static Napi::Value bench_device_copy_bandwidth(const Napi::CallbackInfo& info) {
    if (info.Length() != 3) {
        throw_error(info.Env(), "ERR_INVALID_ARG_TYPE", "benchDeviceCopyBandwidth(model, mib, reps)");
    }
    std::shared_ptr<mg::model> model = model_from_js(info[0]);
    const int32_t mib = static_cast<int32_t>(integer_arg(info[1], "mib", 1, 16384));
    const int32_t reps = static_cast<int32_t>(integer_arg(info[2], "reps", 1, 1000));
    return (new device_copy_bandwidth_worker(info.Env(), std::move(model), mib, reps))->start();
}

static Napi::Value bench_device_memory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env, ggml_backend_dev_count());
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        size_t free = 0, total = 0;
        ggml_backend_dev_memory(dev, &free, &total);
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", ggml_backend_dev_name(dev));
        o.Set("free", static_cast<double>(free));
        o.Set("total", static_cast<double>(total));
        out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
}

static Napi::Value bench_peak_macs(const Napi::CallbackInfo& info) {
    if (info.Length() != 3 || !info[0].IsBoolean()) {
        throw_error(info.Env(), "ERR_INVALID_ARG_TYPE", "benchPeakMacs(int8: boolean, threads, reps)");
    }
    const int32_t threads = static_cast<int32_t>(integer_arg(info[1], "threads", 1, 1024));
    const int32_t reps = static_cast<int32_t>(integer_arg(info[2], "reps", 1, 100));
    return Napi::Number::New(info.Env(), mg::measure_peak_macs(info[0].As<Napi::Boolean>(), threads, reps));
}

static Napi::Value bench_decoder_cost(const Napi::CallbackInfo& info) {
    if (info.Length() != 1) throw_error(info.Env(), "ERR_INVALID_ARG_TYPE", "benchDecoderCost(model)");
    const mg::decoder_cost cost = mg::count_decoder_cost(*model_from_js(info[0]));
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("frameRate", cost.frame_rate);
    out.Set("macsPerSecond", cost.macs_per_second);
    out.Set("lstmMacsPerSecond", cost.lstm_macs_per_second);
    out.Set("lstmRecurrentBytesPerFrame", cost.lstm_recurrent_bytes_per_frame);
    out.Set("lstmInputBytes", cost.lstm_input_bytes);
    return out;
}

static Napi::Value check_cpu_matvec(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 6 || !info[0].IsString() || !info[4].IsString()) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "checkCpuMatvec(type, nIn, nOut, nCols, kernels, seed)");
    }
    const std::string type_name = info[0].As<Napi::String>();
    ggml_type type = GGML_TYPE_COUNT;
    for (const ggml_type t : {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K}) {
        if (type_name == ggml_type_name(t)) type = t;
    }
    if (type == GGML_TYPE_COUNT) throw_error(env, "ERR_INVALID_ARG_VALUE", "type must be f32, f16, q8_0 or q4_K");
    const int64_t n_in = integer_arg(info[1], "nIn", 1, 1 << 16);
    const int64_t n_out = integer_arg(info[2], "nOut", 1, 1 << 16);
    const int32_t n_cols = static_cast<int32_t>(integer_arg(info[3], "nCols", 1, 8));
    const uint32_t seed = static_cast<uint32_t>(integer_arg(info[5], "seed", 0, 0xFFFFFFFFLL));
    try {
        const mg::matvec_kernels kernels = mg::parse_matvec_kernels(info[4].As<Napi::String>());
        const mg::matvec_check check = mg::check_cpu_matvec(type, n_in, n_out, n_cols, kernels, seed, 2);
        Napi::Object out = Napi::Object::New(env);
        out.Set("maxAbsDiff", check.max_abs_diff);
        out.Set("maxAbsRef", check.max_abs_ref);
        out.Set("maxAbsExact", check.max_abs_exact);
        out.Set("weightedSumExact", check.weighted_sum_exact);
        out.Set("weightedSumRef", check.weighted_sum_ref);
        out.Set("quantizedMismatches", static_cast<double>(check.quantized_mismatches));
        out.Set("geluDiff", check.gelu_diff);
        out.Set("eluMismatches", static_cast<double>(check.elu_mismatches));
        out.Set("convChecked", check.conv_checked);
        out.Set("convMismatches", static_cast<double>(check.conv_mismatches));
        out.Set("convExact", check.conv_exact);
        out.Set("convRef", check.conv_ref);
        return out;
    } catch (const mg::error& e) {
        throw_error(env, "ERR_INVALID_ARG_VALUE", e.what());
    }
    return env.Undefined();
}

void register_bench(Napi::Env env, Napi::Object exports) {
    exports.Set("benchPeakMacs", Napi::Function::New(env, bench_peak_macs, "benchPeakMacs"));
    exports.Set("benchDecoderCost", Napi::Function::New(env, bench_decoder_cost, "benchDecoderCost"));
    exports.Set("checkCpuMatvec", Napi::Function::New(env, check_cpu_matvec, "checkCpuMatvec"));
    exports.Set("benchLmProducts", Napi::Function::New(env, bench_lm_products, "benchLmProducts"));
    exports.Set("benchCopyBandwidth", Napi::Function::New(env, bench_copy_bandwidth, "benchCopyBandwidth"));
    exports.Set("benchDeviceCopyBandwidth",
                Napi::Function::New(env, bench_device_copy_bandwidth, "benchDeviceCopyBandwidth"));
    exports.Set("benchDeviceMemory", Napi::Function::New(env, bench_device_memory, "benchDeviceMemory"));
}

}  // namespace mg_addon
