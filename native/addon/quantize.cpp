// ggml's own quantisers for the converter: the bytes written to GGUF are exactly ggml's block formats. Rows are
// quantised independently, so a tensor's rows are split between the machine's cores (q4_k's search made a
// single-threaded conversion of musicgen-small take 41 s); the bytes do not depend on the split.
#include <ggml.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "addon.h"
#include "js-args.h"

namespace mg_addon {

static bool type_from_name(const std::string& name, ggml_type* out) {
    static const struct {
        const char* name;
        ggml_type type;
    } table[] = {{"f32", GGML_TYPE_F32},   {"f16", GGML_TYPE_F16},   {"bf16", GGML_TYPE_BF16},
                 {"q8_0", GGML_TYPE_Q8_0}, {"q4_0", GGML_TYPE_Q4_0}, {"q4_k", GGML_TYPE_Q4_K}};
    for (const auto& e : table) {
        if (name == e.name) {
            *out = e.type;
            return true;
        }
    }
    return false;
}

// quantize(type: string, data: Float32Array, rowLength: number): Buffer
static Napi::Value quantize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 3 || !info[0].IsString() || !is_typed_array<float>(info[1])) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "quantize(type: string, data: Float32Array, rowLength: number)");
    }
    ggml_type type;
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    if (!type_from_name(name, &type)) {
        throw_error(env, "ERR_INVALID_ARG_VALUE", "quantize: unknown type '" + name + "'");
    }
    Napi::Float32Array array = info[1].As<Napi::Float32Array>();
    const int64_t row_length = integer_arg(info[2], "quantize: rowLength", 1, INT32_MAX);
    const int64_t count = static_cast<int64_t>(array.ElementLength());
    if (count % row_length != 0) {
        throw_error(env, "ERR_INVALID_ARG_VALUE",
                    "quantize: rowLength " + std::to_string(row_length) + " does not divide " + std::to_string(count) +
                        " elements");
    }
    if (row_length % ggml_blck_size(type) != 0) {
        throw_error(env, "ERR_INVALID_ARG_VALUE",
                    "quantize: rowLength " + std::to_string(row_length) + " is not a multiple of " + name +
                        "'s block size " + std::to_string(ggml_blck_size(type)));
    }
    const int64_t rows = count / row_length;
    const size_t bytes = ggml_row_size(type, row_length) * static_cast<size_t>(rows);
    Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, bytes);
    // At least 64 rows per thread: below that, starting a thread costs more than it saves.
    const int64_t hardware = std::max(1u, std::thread::hardware_concurrency());
    const int64_t n_threads = std::clamp<int64_t>(rows / 64, 1, hardware);
    const int64_t per_thread = (rows + n_threads - 1) / n_threads;
    const auto quantize_rows = [&](int64_t first) {
        const int64_t n = std::min(per_thread, rows - first);
        if (n > 0) ggml_quantize_chunk(type, array.Data(), out.Data(), first * row_length, n, row_length, nullptr);
    };
    std::vector<std::thread> workers;
    for (int64_t t = 1; t < n_threads; ++t) workers.emplace_back(quantize_rows, t * per_thread);
    quantize_rows(0);
    for (std::thread& w : workers) w.join();
    return out;
}

void register_quantize(Napi::Env env, Napi::Object exports) {
    exports.Set("quantize", Napi::Function::New(env, quantize, "quantize"));
}

}  // namespace mg_addon
