#include "generation-args.h"

#include <cmath>
#include <string>

#include "addon.h"

namespace mg_addon {

double number_option(Napi::Env env, const Napi::Object& options, const char* name, double fallback, double min,
                     double max, bool integer) {
    Napi::Value v = options.Get(name);
    if (v.IsUndefined()) return fallback;
    const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!(x >= min && x <= max) || (integer && std::floor(x) != x)) {
        throw_error(env, "ERR_MUSICGEN_INVALID_OPTION",
                    std::string(name) + " must be " + (integer ? "an integer" : "a number") + " between " +
                        std::to_string(min) + " and " + std::to_string(max));
    }
    return x;
}

std::vector<std::string> prompts_from_js(Napi::Env env, const Napi::Value& value) {
    if (!value.IsArray()) throw_error(env, "ERR_INVALID_ARG_TYPE", "prompts must be an array of strings");
    Napi::Array array = value.As<Napi::Array>();
    if (array.Length() == 0) throw_error(env, "ERR_MUSICGEN_INVALID_OPTION", "at least one prompt is needed");
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
        const std::string name = "chroma[" + std::to_string(i) + "]";
        Napi::Value data = entry.IsObject() ? entry.As<Napi::Object>().Get("data") : env.Undefined();
        if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
            throw_error(env, "ERR_INVALID_ARG_TYPE", name + " must be null or { data: Float32Array, frames }");
        }
        c.frames = static_cast<int32_t>(number_option(env, entry.As<Napi::Object>(), "frames", 0, 1, 1 << 24, true));
        Napi::Float32Array values = data.As<Napi::Float32Array>();
        c.data.assign(values.Data(), values.Data() + values.ElementLength());
    }
    return chroma;
}

mg::generation_request generation_request_from_js(Napi::Env env, const mg::model& m, const Napi::Value& prompts,
                                                  const Napi::Object& options) {
    mg::generation_request request;
    request.prompts = prompts_from_js(env, prompts);
    if (options.Get("frames").IsUndefined()) throw_error(env, "ERR_MUSICGEN_INVALID_OPTION", "frames is required");
    request.frames = static_cast<int32_t>(number_option(env, options, "frames", 0, 1, 1 << 20, true));
    mg::sampling_params& sp = request.sampling;
    sp.top_k = static_cast<int32_t>(number_option(env, options, "topK", 250, 0, m.hparams.lm.codebook_size, true));
    sp.top_p = static_cast<float>(number_option(env, options, "topP", 0, 0, 1, false));
    sp.temperature = static_cast<float>(number_option(env, options, "temperature", 1, 1e-6, 1e6, false));
    sp.guidance_scale = static_cast<float>(number_option(env, options, "guidanceScale", 3, 0, 1e6, false));
    sp.seed = static_cast<uint64_t>(number_option(env, options, "seed", 0, 0, 9007199254740991.0, true));
    request.chroma = chroma_from_js(env, options.Get("chroma"), request.prompts.size());
    // Audio prompt: promptCodes Int32Array [prompts, codebooks, promptFrames]; the core checks sizes and codes.
    Napi::Value prompt_codes = options.Get("promptCodes");
    if (!prompt_codes.IsUndefined()) {
        if (!prompt_codes.IsTypedArray() || prompt_codes.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
            throw_error(env, "ERR_INVALID_ARG_TYPE", "promptCodes must be an Int32Array");
        }
        Napi::Int32Array codes = prompt_codes.As<Napi::Int32Array>();
        request.prompt_codes.assign(codes.Data(), codes.Data() + codes.ElementLength());
        request.prompt_frames =
            static_cast<int32_t>(number_option(env, options, "promptFrames", 0, 1, m.hparams.lm.max_position, true));
    }
    return request;
}

}  // namespace mg_addon
