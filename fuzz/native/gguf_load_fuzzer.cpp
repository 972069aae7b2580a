// libFuzzer harness: arbitrary bytes as a model file through mg::load_model, the path MusicGen.load takes
// (gguf header parse, key and tensor validation, tokenizer construction, tensor placement on the CPU backend),
// then mg::inspect_model (MusicGen.inspect). Bad input must end in mg::error; anything else (a sanitizer report,
// an abort, another exception) is a crash.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/error.h"
#include "model/loader.h"
#include "tokenizer/tokenizer.h"

static std::string model_path;

static void quiet_log(ggml_log_level, const char*, void*) {}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* dir = std::getenv("TMPDIR");
    model_path = std::string(dir && *dir ? dir : "/tmp") + "/musicgen-gguf-fuzz-" + std::to_string(getpid()) + ".gguf";
    ggml_log_set(quiet_log, nullptr);  // gguf's rejections are reported through mg::error messages instead
    return 0;
}

static bool write_file(const uint8_t* data, size_t size) {
    FILE* f = std::fopen(model_path.c_str(), "wb");
    if (!f) return false;
    const bool ok = std::fwrite(data, 1, size, f) == size;
    return std::fclose(f) == 0 && ok;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (!write_file(data, size)) std::abort();  // the harness's own failure, not the loader's
    try {
        mg::load_params params;
        params.backend = "cpu";
        params.n_threads = 1;
        std::unique_ptr<mg::model> m = mg::load_model(model_path, params);
        // A model that loads has a working tokenizer: encode something through it.
        if (m->vocab->encode("lofi beat </s> <extra_id_0>").empty()) std::abort();
    } catch (const mg::error&) {
    }
    try {
        mg::inspect_model(model_path);
    } catch (const mg::error&) {
    }
    return 0;
}
