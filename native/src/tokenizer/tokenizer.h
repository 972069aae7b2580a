// SentencePiece-Unigram tokenizer with T5 conventions (precompiled-charsmap normaliser, EOS appended,
// unknown runs merged into one unk id, HF's special-token splitting).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mg {

// Everything the tokenizer needs, as stored under tokenizer.ggml.* in the GGUF file.
struct tokenizer_vocab {
    std::vector<std::string> pieces;  // id order
    std::vector<float> scores;
    std::vector<int32_t> types;     // SentencePiece types: 1 normal, 2 unknown, 3 control, 4 user, 5 unused, 6 byte
    std::vector<uint8_t> charsmap;  // precompiled normaliser charsmap; empty = identity
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = true;
    bool escape_whitespaces = true;
    int32_t eos_id = 1;
    int32_t unk_id = 2;
    int32_t pad_id = 0;
    uint32_t extra_ids = 0;  // <extra_id_N> tokens appended after the pieces (id = pieces.size() + extra_ids - 1 - N)
};

class tokenizer {
  public:
    // Validates the vocabulary (sizes agree, ids in range, charsmap well-formed); throws mg::error(model_invalid).
    explicit tokenizer(tokenizer_vocab vocab);
    ~tokenizer();
    tokenizer(const tokenizer&) = delete;
    tokenizer& operator=(const tokenizer&) = delete;

    // Token ids for UTF-8 text exactly as HF's T5Tokenizer returns them (EOS appended).
    // Invalid UTF-8 bytes are treated like unknown characters, never read out of bounds.
    std::vector<int32_t> encode(const std::string& text) const;

    size_t vocab_size() const;  // pieces + extra ids
    int32_t pad_id() const;

  private:
    struct impl;
    impl* impl_;
};

}  // namespace mg
