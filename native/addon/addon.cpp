// The addon's module entry point (see addon.h): init() registers every source file's functions; throw_error().
#include "addon.h"

#include <ggml.h>

#include "promise-worker.h"
#include "runtime/ggml-log.h"

namespace mg_addon {

void throw_error(Napi::Env env, const char* code, const std::string& message) { throw coded_error(env, code, message); }

}  // namespace mg_addon

static Napi::Object init(Napi::Env env, Napi::Object exports) {
    mg::install_ggml_logger();
    exports.Set("ggmlVersion", Napi::String::New(env, ggml_version()));
    mg_addon::register_quantize(env, exports);
    mg_addon::register_model(env, exports);
    mg_addon::register_tokenizer(env, exports);
    mg_addon::register_encode_text(env, exports);
    mg_addon::register_decode_codes(env, exports);
    mg_addon::register_encode_audio(env, exports);
    mg_addon::register_decode_stream(env, exports);
    mg_addon::register_generate(env, exports);
    mg_addon::register_diagnostics(env, exports);
    mg_addon::register_chroma(env, exports);
    mg_addon::register_backends(env, exports);
    mg_addon::register_bench(env, exports);
    return exports;
}

NODE_API_MODULE(musicgen, init)
