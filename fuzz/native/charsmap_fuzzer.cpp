// libFuzzer harness: the SentencePiece normaliser with an arbitrary precompiled charsmap (the
// tokenizer.ggml.precompiled_charsmap blob of a GGUF file) and arbitrary text. Input layout: 4-byte LE blob
// length n, n bytes of blob, then the text (lengths are clamped to the input). Constructing or using a corrupt
// charsmap must throw mg::error, never read outside the blob.
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "runtime/error.h"
#include "tokenizer/normalizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 4) return 0;
    uint32_t n;
    std::memcpy(&n, data, 4);
    data += 4;
    size -= 4;
    const size_t blob_size = n < size ? n : size;
    const std::vector<uint8_t> blob(data, data + blob_size);
    const std::string_view text(reinterpret_cast<const char*>(data + blob_size), size - blob_size);
    for (const bool flags : {true, false}) {
        try {
            mg::normalizer norm(blob, mg::normalizer_options{flags, flags, flags}, {"<user>", "\xE2\x96\x81x"});
            norm.normalize(text);
        } catch (const mg::error&) {
        }
    }
    return 0;
}
