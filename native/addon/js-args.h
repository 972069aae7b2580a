// The addon's one reader of plain JS data: numbers, token-id prompts, chroma and generation requests. The
// TypeScript facade (lib/) is the contract that checks ranges and explains them; these checks only keep values the
// core cannot represent (wrong types, non-finite or non-integral numbers, sizes beyond int32) out of it, with
// ERR_INVALID_ARG_TYPE. Range invariants live in the core (mg::error(invalid_argument)), never narrower than the
// facade's.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "melody/melody-conditioning.h"
#include "model/model.h"
#include "pipeline/pipeline.h"

namespace mg_addon {

// True when v is a typed array whose elements are T (float, int32_t or uint8_t).
template <class T>
bool is_typed_array(const Napi::Value& v) {
    static_assert(std::is_same<T, float>::value || std::is_same<T, int32_t>::value || std::is_same<T, uint8_t>::value,
                  "a typed array the addon reads");
    constexpr napi_typedarray_type type = std::is_same<T, float>::value     ? napi_float32_array
                                          : std::is_same<T, int32_t>::value ? napi_int32_array
                                                                            : napi_uint8_array;
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

// A finite number argument; else throws ERR_INVALID_ARG_TYPE naming it.
double number_arg(const Napi::Value& v, const std::string& name);

// An integer argument in [min, max] (a shape or count the addon needs, not an option contract); else throws `code`
// naming it.
int64_t integer_arg(const Napi::Value& v, const std::string& name, int64_t min, int64_t max,
                    const char* code = "ERR_INVALID_ARG_VALUE");

// options[name] read by number_arg, or by integer_arg when an integer is asked (in [0, 2^53), with `int32` in an
// int32); `fallback` when absent.
enum class number_kind { real, integer, int32 };
double number_option(const Napi::Object& options, const char* name, double fallback, number_kind kind);

// A non-empty string[] of prompts.
std::vector<std::string> prompts_from_js(Napi::Env env, const Napi::Value& value);

// A non-empty Int32Array[] of T5 token ids, one per prompt (the core checks lengths and the vocabulary).
std::vector<std::vector<int32_t>> tokens_from_js(Napi::Env env, const Napi::Value& value);

// Optional chroma (melody) features, one entry per prompt: undefined, or an array whose entries are null
// (no chroma) or { data: Float32Array [frames, num_chroma], frames }. Sizes are checked by the core.
std::vector<mg::chroma_features> chroma_from_js(Napi::Env env, const Napi::Value& value, size_t n_prompts);

// tokens (as above) and { frames, topK, topP, temperature, guidanceScale, seed, promptCodes?, promptFrames?,
// chroma?, chunkFrames?, longForm?: { window, stride, total, chroma? }, codes? }.
mg::pipeline_request pipeline_request_from_js(Napi::Env env, const Napi::Value& tokens, const Napi::Object& options);

}  // namespace mg_addon
