// libFuzzer harness: arbitrary bytes (valid UTF-8 or not) through the T5 tokenizer of a real model file, built
// from its GGUF metadata exactly as MusicGen.load does. The model is $MUSICGEN_FUZZ_MODEL (tools/fuzz/run.ts
// converts test/fixtures/musicgen-tiny, whose spiece.model is the real t5-base vocabulary with the nmt_nfkc
// charsmap). Every input must encode: ids in range, EOS last, no exception at all.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "runtime/error.h"
#include "model/loader.h"
#include "tokenizer/tokenizer.h"

static std::unique_ptr<mg::model> model;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* path = std::getenv("MUSICGEN_FUZZ_MODEL");
    if (!path || !*path) {
        std::fprintf(stderr, "tokenizer_fuzzer: set MUSICGEN_FUZZ_MODEL to a musicgen .gguf file\n");
        std::exit(2);
    }
    try {
        mg::load_params params;
        params.backend = "cpu";
        params.n_threads = 1;
        model = mg::load_model(path, params);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tokenizer_fuzzer: cannot load %s: %s\n", path, e.what());
        std::exit(2);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::vector<int32_t> ids = model->vocab->encode(text);
    const int32_t n = static_cast<int32_t>(model->vocab->vocab_size());
    if (ids.empty() || ids.back() != 1) std::abort();  // T5's EOS (id 1) always ends the ids
    for (const int32_t id : ids) {
        if (id < 0 || id >= n) std::abort();
    }
    return 0;
}
