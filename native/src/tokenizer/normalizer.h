// SentencePiece's text normaliser: the precompiled charsmap (e.g. nmt_nfkc) applied by longest match, then the
// whitespace rules (strip/collapse spaces, dummy prefix, ' ' -> U+2581), in exactly SentencePiece's order.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mg {

// The charsmap blob: uint32 LE trie byte size, a Darts-clone double-array trie of uint32 LE units keyed by the
// source bytes, then a pool of NUL-terminated replacement strings the trie values point into.
class precompiled_charsmap {
  public:
    // An empty blob means no rules. Throws mg::error(model_invalid) when the sections do not fit the blob.
    explicit precompiled_charsmap(const std::vector<uint8_t>& blob);

    // Length of the longest rule matching a prefix of `text` (0 = none) and its replacement.
    // Throws mg::error(model_invalid) if the trie points outside the blob.
    size_t longest_match(std::string_view text, std::string_view* replacement) const;

  private:
    uint32_t unit(size_t index) const;

    std::vector<uint32_t> units_;
    std::string pool_;
};

struct normalizer_options {
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = true;
    bool escape_whitespaces = true;
};

class normalizer {
  public:
    // `user_defined` pieces pass through unnormalised, as SentencePiece's prefix matcher makes them.
    normalizer(const std::vector<uint8_t>& charsmap, normalizer_options options, std::vector<std::string> user_defined);

    std::string normalize(std::string_view text) const;

  private:
    // Normalised form of the text's first character (or rule match) and how many input bytes it consumed.
    std::pair<std::string_view, size_t> normalize_prefix(std::string_view text) const;

    precompiled_charsmap charsmap_;
    normalizer_options options_;
    std::vector<std::string> user_defined_;  // longest first, so the first match is the longest
};

}  // namespace mg
