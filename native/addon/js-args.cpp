// See js-args.h.
#include "js-args.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "addon.h"

namespace mg_addon {

double number_arg(const Napi::Value& v, const std::string& name) {
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
    if (!std::isfinite(d)) throw_error(v.Env(), "ERR_INVALID_ARG_TYPE", name + " must be a finite number");
    return d;
}

int64_t integer_arg(const Napi::Value& v, const std::string& name, int64_t min, int64_t max, const char* code) {
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
    if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || d != std::floor(d)) {
        throw_error(v.Env(), code,
                    name + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return static_cast<int64_t>(d);
}

double number_option(const Napi::Object& options, const char* name, double fallback, number_kind kind) {
    const Napi::Value v = options.Get(name);
    if (v.IsUndefined()) return fallback;
    if (kind == number_kind::real) return number_arg(v, name);
    const int64_t max = kind == number_kind::int32 ? INT32_MAX : int64_t{9007199254740991};  // 2^53 - 1
    return static_cast<double>(integer_arg(v, name, 0, max, "ERR_INVALID_ARG_TYPE"));
}

std::vector<std::string> prompts_from_js(Napi::Env env, const Napi::Value& value) {
    if (!value.IsArray() || value.As<Napi::Array>().Length() == 0) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "prompts must be a non-empty array of strings");
    }
    Napi::Array array = value.As<Napi::Array>();
    std::vector<std::string> prompts;
    for (uint32_t i = 0; i < array.Length(); ++i) {
        Napi::Value p = array.Get(i);
        if (!p.IsString()) {
            throw_error(env, "ERR_INVALID_ARG_TYPE", "prompts[" + std::to_string(i) + "] must be a string");
        }
        prompts.push_back(p.As<Napi::String>().Utf8Value());
    }
    return prompts;
}

std::vector<std::vector<int32_t>> tokens_from_js(Napi::Env env, const Napi::Value& value) {
    if (!value.IsArray() || value.As<Napi::Array>().Length() == 0) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "tokens must be a non-empty array of Int32Array");
    }
    Napi::Array array = value.As<Napi::Array>();
    std::vector<std::vector<int32_t>> tokens;
    for (uint32_t i = 0; i < array.Length(); ++i) {
        Napi::Value p = array.Get(i);
        if (!is_typed_array<int32_t>(p)) {
            throw_error(env, "ERR_INVALID_ARG_TYPE", "tokens[" + std::to_string(i) + "] must be an Int32Array");
        }
        Napi::Int32Array ids = p.As<Napi::Int32Array>();
        tokens.emplace_back(ids.Data(), ids.Data() + ids.ElementLength());
    }
    return tokens;
}

std::vector<mg::chroma_features> chroma_from_js(Napi::Env env, const Napi::Value& value, size_t n_prompts) {
    std::vector<mg::chroma_features> chroma;
    if (value.IsUndefined()) return chroma;
    if (!value.IsArray() || value.As<Napi::Array>().Length() != n_prompts) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "chroma must be an array with one entry per prompt");
    }
    Napi::Array array = value.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
        Napi::Value entry = array.Get(i);
        mg::chroma_features& c = chroma.emplace_back();
        if (entry.IsNull() || entry.IsUndefined()) continue;
        Napi::Value data = entry.IsObject() ? entry.As<Napi::Object>().Get("data") : env.Undefined();
        if (!is_typed_array<float>(data)) {
            throw_error(env, "ERR_INVALID_ARG_TYPE",
                        "chroma[" + std::to_string(i) + "] must be null or { data: Float32Array, frames }");
        }
        c.frames = static_cast<int32_t>(number_option(entry.As<Napi::Object>(), "frames", 0, number_kind::int32));
        Napi::Float32Array values = data.As<Napi::Float32Array>();
        c.data.assign(values.Data(), values.Data() + values.ElementLength());
    }
    return chroma;
}

mg::pipeline_request pipeline_request_from_js(Napi::Env env, const Napi::Value& tokens, const Napi::Object& options) {
    const auto int32 = [&](const Napi::Object& o, const char* name, double fallback) {
        return static_cast<int32_t>(number_option(o, name, fallback, number_kind::int32));
    };
    mg::pipeline_request request;
    request.tokens = tokens_from_js(env, tokens);
    mg::generation_request& g = request.generation;
    g.frames = int32(options, "frames", 0);
    mg::sampling_params& sp = g.sampling;
    sp.top_k = int32(options, "topK", 250);
    sp.top_p = static_cast<float>(number_option(options, "topP", 0, number_kind::real));
    sp.temperature = static_cast<float>(number_option(options, "temperature", 1, number_kind::real));
    sp.guidance_scale = static_cast<float>(number_option(options, "guidanceScale", 3, number_kind::real));
    sp.seed = static_cast<uint64_t>(number_option(options, "seed", 0, number_kind::integer));
    g.chroma = chroma_from_js(env, options.Get("chroma"), request.tokens.size());
    // Audio prompt: promptCodes Int32Array [prompts, codebooks, promptFrames]; the core checks sizes and codes.
    Napi::Value prompt_codes = options.Get("promptCodes");
    if (!prompt_codes.IsUndefined()) {
        if (!is_typed_array<int32_t>(prompt_codes)) {
            throw_error(env, "ERR_INVALID_ARG_TYPE", "promptCodes must be an Int32Array");
        }
        Napi::Int32Array codes = prompt_codes.As<Napi::Int32Array>();
        g.prompt_codes.assign(codes.Data(), codes.Data() + codes.ElementLength());
        g.prompt_frames = int32(options, "promptFrames", 0);
    }
    request.chunk_frames = int32(options, "chunkFrames", 0);
    request.first_chunk_frames = int32(options, "firstChunkFrames", 0);
    request.want_codes = options.Get("codes").ToBoolean();
    request.want_audio = !options.Get("audio").IsBoolean() || options.Get("audio").ToBoolean();
    Napi::Value long_form = options.Get("longForm");
    if (!long_form.IsUndefined()) {
        if (!long_form.IsObject()) throw_error(env, "ERR_INVALID_ARG_TYPE", "longForm must be an object");
        Napi::Object lf = long_form.As<Napi::Object>();
        request.window_frames = int32(lf, "window", 0);
        request.stride_frames = int32(lf, "stride", 0);
        request.total_new_frames = int32(lf, "total", 0);
        Napi::Value chroma = lf.Get("chroma");
        if (chroma.IsArray()) {
            Napi::Array windows = chroma.As<Napi::Array>();
            for (uint32_t w = 0; w < windows.Length(); ++w) {
                request.window_chroma.push_back(chroma_from_js(env, windows.Get(w), request.tokens.size()));
            }
        }
    }
    return request;
}

}  // namespace mg_addon
