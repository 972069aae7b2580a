// SentencePiece's text normaliser (see normalizer.h): precompiled charsmap, then the whitespace rules.
#include "tokenizer/normalizer.h"

#include <algorithm>

#include "runtime/error.h"
#include "tokenizer/unicode-utf8.h"

namespace mg {

static constexpr std::string_view space_symbol = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

static uint32_t read_u32_le(const uint8_t* p) {
    return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

static error invalid_charsmap(const std::string& what) {
    return error(error_code::model_invalid, "tokenizer precompiled charsmap is corrupt: " + what);
}

precompiled_charsmap::precompiled_charsmap(const std::vector<uint8_t>& blob) {
    if (blob.empty()) return;
    if (blob.size() < 4) throw invalid_charsmap("blob of " + std::to_string(blob.size()) + " bytes has no header");
    const size_t trie_bytes = read_u32_le(blob.data());
    if (trie_bytes == 0 || trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4) {
        throw invalid_charsmap("trie size " + std::to_string(trie_bytes) + " does not fit a blob of " +
                               std::to_string(blob.size()) + " bytes (or is not a positive multiple of 4)");
    }
    units_.resize(trie_bytes / 4);
    for (size_t i = 0; i < units_.size(); ++i) units_[i] = read_u32_le(blob.data() + 4 + 4 * i);
    pool_.assign(blob.begin() + 4 + static_cast<std::ptrdiff_t>(trie_bytes), blob.end());
    // A terminating NUL at the end bounds every replacement string that starts inside the pool.
    if (!pool_.empty() && pool_.back() != '\0') throw invalid_charsmap("replacement pool is not NUL-terminated");
}

uint32_t precompiled_charsmap::unit(size_t index) const {
    if (index >= units_.size()) {
        throw invalid_charsmap("trie index " + std::to_string(index) + " beyond its " + std::to_string(units_.size()) +
                               " units");
    }
    return units_[index];
}

// Darts-clone unit layout: bit 31 marks a leaf (whose low 31 bits are the value), bit 8 says the node has a
// leaf child, the low 8 bits are the label and bits 10..31 the child offset (scaled by 256 when bit 9 is set).
static bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t unit_value(uint32_t u) { return u & 0x7FFFFFFFu; }
static uint32_t unit_label(uint32_t u) { return u & (0x80000000u | 0xFFu); }
static size_t unit_offset(uint32_t u) { return size_t(u >> 10) << ((u & (1u << 9)) >> 6); }

size_t precompiled_charsmap::longest_match(std::string_view text, std::string_view* replacement) const {
    if (units_.empty()) return 0;
    size_t best_length = 0;
    uint32_t best_value = 0;
    size_t node = unit_offset(unit(0));
    for (size_t i = 0; i < text.size(); ++i) {
        const uint8_t label = static_cast<uint8_t>(text[i]);
        node ^= label;
        const uint32_t u = unit(node);
        if (unit_label(u) != label) break;
        node ^= unit_offset(u);
        if (unit_has_leaf(u)) {
            best_length = i + 1;
            best_value = unit_value(unit(node));
        }
    }
    if (best_length == 0) return 0;
    if (best_value >= pool_.size()) {
        throw invalid_charsmap("replacement offset " + std::to_string(best_value) + " beyond the " +
                               std::to_string(pool_.size()) + "-byte pool");
    }
    *replacement = std::string_view(pool_.c_str() + best_value);
    return best_length;
}

normalizer::normalizer(const std::vector<uint8_t>& charsmap, normalizer_options options,
                       std::vector<std::string> user_defined)
    : charsmap_(charsmap), options_(options), user_defined_(std::move(user_defined)) {
    std::stable_sort(user_defined_.begin(), user_defined_.end(),
                     [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::pair<std::string_view, size_t> normalizer::normalize_prefix(std::string_view text) const {
    for (const std::string& symbol : user_defined_) {
        if (!symbol.empty() && text.substr(0, symbol.size()) == symbol) {
            return {text.substr(0, symbol.size()), symbol.size()};
        }
    }
    std::string_view replacement;
    if (const size_t matched = charsmap_.longest_match(text, &replacement)) return {replacement, matched};
    uint32_t codepoint;
    size_t length;
    // A malformed byte becomes U+FFFD but consumes only that byte, as SentencePiece does.
    if (!utf8_decode(text, &codepoint, &length)) return {"\xEF\xBF\xBD", 1};
    return {text.substr(0, length), length};
}

std::string normalizer::normalize(std::string_view text) const {
    std::string out;
    if (options_.remove_extra_whitespaces) {
        while (!text.empty()) {
            const auto [normalized, consumed] = normalize_prefix(text);
            if (normalized != " ") break;
            text.remove_prefix(consumed);
        }
    }
    if (text.empty()) return out;
    out.reserve(text.size() * 3);
    const std::string_view space = options_.escape_whitespaces ? space_symbol : std::string_view(" ");
    if (options_.add_dummy_prefix) out += space;

    // SentencePiece starts as if a space preceded the text, so the dummy prefix is never doubled.
    bool previous_is_space = options_.remove_extra_whitespaces;
    while (!text.empty()) {
        auto [normalized, consumed] = normalize_prefix(text);
        while (previous_is_space && !normalized.empty() && normalized.front() == ' ') normalized.remove_prefix(1);
        if (!normalized.empty()) {
            for (const char c : normalized) {
                if (c == ' ') {
                    out += space;
                } else {
                    out += c;
                }
            }
            previous_is_space = normalized.back() == ' ';
        }
        text.remove_prefix(consumed);
        if (!options_.remove_extra_whitespaces) previous_is_space = false;
    }

    if (options_.remove_extra_whitespaces) {
        while (out.size() >= space.size() && std::string_view(out).substr(out.size() - space.size()) == space) {
            out.resize(out.size() - space.size());
        }
    }
    return out;
}

}  // namespace mg
