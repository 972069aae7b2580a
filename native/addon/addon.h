// N-API surface of musicgen-native. Each addon source file registers its functions through one
// register_* call; the TypeScript side types them by hand in lib/native.ts.
#pragma once
#include <napi.h>

namespace mg_addon {

// Throws a JS Error whose `code` property is `code` (e.g. "ERR_MUSICGEN_MODEL_INVALID").
[[noreturn]] void throw_error(Napi::Env env, const char* code, const std::string& message);

void register_quantize(Napi::Env env, Napi::Object exports);
void register_model(Napi::Env env, Napi::Object exports);

}  // namespace mg_addon
