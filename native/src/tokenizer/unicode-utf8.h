// UTF-8 helpers with SentencePiece's exact notion of a character, so the normaliser and the Viterbi
// segmentation step over text the same way the reference does, including on malformed bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mg {

// Byte length of the character a lead byte announces (1 for continuation and invalid bytes), never 0.
size_t utf8_lead_length(uint8_t lead);

// Strictly decodes the first character of `text` (non-empty): no overlong forms, no surrogates, nothing past
// U+10FFFF, no truncated sequences. Returns false (and *length = 1) for a malformed character.
bool utf8_decode(std::string_view text, uint32_t* codepoint, size_t* length);

// Python's str.isspace(): what HF strips around special tokens.
bool is_python_whitespace(uint32_t codepoint);

}  // namespace mg
