// Checks of the plain data generate() and stream() pass from JS. lib/generate.ts has already validated it
// with friendly messages; these checks only keep the core from ever seeing out-of-range values.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "lm/generation.h"
#include "model/model.h"

namespace mg_addon {

// A finite number option within [min, max], integral when asked; `fallback` when absent.
double number_option(Napi::Env env, const Napi::Object& options, const char* name, double fallback, double min,
                     double max, bool integer);

// A non-empty string[] of prompts.
std::vector<std::string> prompts_from_js(Napi::Env env, const Napi::Value& value);

// Optional chroma (melody) features, one entry per prompt: undefined, or an array whose entries are null
// (no chroma) or { data: Float32Array [frames, num_chroma], frames }. Sizes are checked by the core.
std::vector<mg::chroma_features> chroma_from_js(Napi::Env env, const Napi::Value& value, size_t n_prompts);

// prompts (as above) and { frames, topK, topP, temperature, guidanceScale, seed, promptCodes?, promptFrames?,
// chroma? }.
mg::generation_request generation_request_from_js(Napi::Env env, const mg::model& m, const Napi::Value& prompts,
                                                  const Napi::Object& options);

}  // namespace mg_addon
