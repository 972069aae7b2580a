// UTF-8 helpers with SentencePiece's notion of a character (see unicode-utf8.h).
#include "tokenizer/unicode-utf8.h"

namespace mg {

size_t utf8_lead_length(uint8_t lead) {
    if (lead < 0xC0) return 1;
    if (lead < 0xE0) return 2;
    if (lead < 0xF0) return 3;
    return 4;
}

static bool is_trail(uint8_t byte) { return (byte & 0xC0) == 0x80; }

static bool is_scalar_value(uint32_t cp) { return cp < 0xD800 || (cp >= 0xE000 && cp <= 0x10FFFF); }

bool utf8_decode(std::string_view text, uint32_t* codepoint, size_t* length) {
    const size_t n = text.size();
    const auto b = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    if (b(0) < 0x80) {
        *codepoint = b(0);
        *length = 1;
        return true;
    }
    if (n >= 2 && (b(0) & 0xE0) == 0xC0 && is_trail(b(1))) {
        const uint32_t cp = (uint32_t(b(0) & 0x1F) << 6) | (b(1) & 0x3F);
        if (cp >= 0x80) {
            *codepoint = cp;
            *length = 2;
            return true;
        }
    } else if (n >= 3 && (b(0) & 0xF0) == 0xE0 && is_trail(b(1)) && is_trail(b(2))) {
        const uint32_t cp = (uint32_t(b(0) & 0x0F) << 12) | (uint32_t(b(1) & 0x3F) << 6) | (b(2) & 0x3F);
        if (cp >= 0x800 && is_scalar_value(cp)) {
            *codepoint = cp;
            *length = 3;
            return true;
        }
    } else if (n >= 4 && (b(0) & 0xF8) == 0xF0 && is_trail(b(1)) && is_trail(b(2)) && is_trail(b(3))) {
        const uint32_t cp = (uint32_t(b(0) & 0x07) << 18) | (uint32_t(b(1) & 0x3F) << 12) |
                            (uint32_t(b(2) & 0x3F) << 6) | (b(3) & 0x3F);
        if (cp >= 0x10000 && is_scalar_value(cp)) {
            *codepoint = cp;
            *length = 4;
            return true;
        }
    }
    *codepoint = 0xFFFD;
    *length = 1;
    return false;
}

bool is_python_whitespace(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

}  // namespace mg
