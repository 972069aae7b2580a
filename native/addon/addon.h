// N-API surface of musicgen-native. Each addon source file registers its functions through one
// register_* call; the TypeScript side types them by hand in lib/native.ts.
#pragma once
#include <napi.h>

#include <memory>

namespace mg {
struct model;
}

namespace mg_addon {

// Throws a JS Error whose `code` property is `code` (e.g. "ERR_MUSICGEN_MODEL_INVALID").
[[noreturn]] void throw_error(Napi::Env env, const char* code, const std::string& message);

// The loaded mg::model behind a JS Model object (native/addon/model.cpp). Async workers hold the
// shared_ptr, so dispose() during a job frees the weights only when the job ends. Throws
// ERR_MUSICGEN_DISPOSED for a disposed model and a TypeError for anything that is not a Model.
std::shared_ptr<mg::model> model_from_js(const Napi::Value& value);

void register_quantize(Napi::Env env, Napi::Object exports);
void register_model(Napi::Env env, Napi::Object exports);
void register_tokenizer(Napi::Env env, Napi::Object exports);
void register_encode_text(Napi::Env env, Napi::Object exports);
void register_decode_codes(Napi::Env env, Napi::Object exports);
void register_encode_audio(Napi::Env env, Napi::Object exports);
void register_decode_stream(Napi::Env env, Napi::Object exports);
void register_generate(Napi::Env env, Napi::Object exports);
void register_diagnostics(Napi::Env env, Napi::Object exports);
void register_chroma(Napi::Env env, Napi::Object exports);
void register_backends(Napi::Env env, Napi::Object exports);
void register_bench(Napi::Env env, Napi::Object exports);

}  // namespace mg_addon
