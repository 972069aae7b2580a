// The addon's one reader of plain JS data: numbers, token-id prompts, chroma and generation requests. The
// TypeScript facade (lib/) is the contract that checks ranges and explains them; these checks only keep values the
// core cannot represent (wrong types, non-finite or non-integral numbers, sizes beyond int32) out of it, with
// ERR_INVALID_ARG_TYPE. Range invariants live in the core (mg::error(invalid_argument)), never narrower than the
// facade's.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "melody/melody-conditioning.h"
#include "model/model.h"
#include "pipeline/pipeline.h"

namespace mg_addon {

// An integer argument in [min, max] (a shape or count the addon needs, not an option contract); else throws `code`
// naming it.
int64_t integer_arg(const Napi::Value& v, const std::string& name, int64_t min, int64_t max,
                    const char* code = "ERR_INVALID_ARG_VALUE");

// A finite number (an integer when asked) at options[name], or `fallback` when absent. Integers must fit in
// [0, 2^53) and, with `int32`, in an int32.
enum class number_kind { real, integer, int32 };
double number_option(Napi::Env env, const Napi::Object& options, const char* name, double fallback, number_kind kind);

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
