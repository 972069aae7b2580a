// The SentencePiece-Unigram tokenizer with T5 conventions (see tokenizer.h): Viterbi over the vocabulary.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <string_view>

#include "runtime/error.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/unicode-utf8.h"

namespace mg {

namespace {

enum piece_type : int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

// SentencePiece scores an unknown character this far below the worst normal piece.
constexpr float unk_penalty = 10.0f;

// Byte trie over the pieces the segmentation may use (normal, user-defined, unused).
class piece_trie {
  public:
    piece_trie() : nodes_(1) {}

    // Returns false if the key is already present.
    bool insert(std::string_view key, int32_t id) {
        uint32_t node = 0;
        for (const char c : key) {
            const uint8_t label = static_cast<uint8_t>(c);
            auto& children = nodes_[node].children;
            auto it = std::lower_bound(children.begin(), children.end(), label,
                                       [](const edge& e, uint8_t l) { return e.label < l; });
            if (it == children.end() || it->label != label) {
                const uint32_t child = static_cast<uint32_t>(nodes_.size());
                it = children.insert(it, edge{label, child});
                nodes_.emplace_back();  // invalidates `children`, so nothing below uses it
                node = child;
            } else {
                node = it->child;
            }
        }
        if (nodes_[node].id >= 0) return false;
        nodes_[node].id = id;
        return true;
    }

    // Calls visit(length, id) for every key that is a prefix of `text`, shortest first.
    template <class Visit>
    void for_each_prefix(std::string_view text, Visit&& visit) const {
        uint32_t node = 0;
        for (size_t i = 0; i < text.size(); ++i) {
            const uint8_t label = static_cast<uint8_t>(text[i]);
            const auto& children = nodes_[node].children;
            const auto it = std::lower_bound(children.begin(), children.end(), label,
                                             [](const edge& e, uint8_t l) { return e.label < l; });
            if (it == children.end() || it->label != label) return;
            node = it->child;
            if (nodes_[node].id >= 0) visit(i + 1, nodes_[node].id);
        }
    }

  private:
    struct edge {
        uint8_t label;
        uint32_t child;
    };
    struct node {
        int32_t id = -1;
        std::vector<edge> children;  // sorted by label
    };
    std::vector<node> nodes_;
};

// A stretch of the input: plain text for SentencePiece, or a special token HF matched literally.
struct segment {
    std::string_view text;
    int32_t special_id = -1;
};

error invalid_vocab(const std::string& what) {
    return error(error_code::model_invalid, "tokenizer vocabulary is invalid: " + what);
}

std::string_view strip_python_whitespace(std::string_view text, bool left, bool right) {
    size_t begin = text.size(), end = 0;  // first/last non-whitespace character
    for (size_t i = 0; i < text.size();) {
        uint32_t codepoint;
        size_t length;
        const bool valid = utf8_decode(text.substr(i), &codepoint, &length);
        if (!valid || !is_python_whitespace(codepoint)) {
            begin = std::min(begin, i);
            end = i + length;
        }
        i += length;
    }
    if (begin >= end) return left && right ? std::string_view() : text;  // all whitespace
    const size_t from = left ? begin : 0;
    const size_t to = right ? end : text.size();
    return text.substr(from, to - from);
}

}  // namespace

struct tokenizer::impl {
    tokenizer_vocab vocab;
    normalizer norm;
    piece_trie pieces;
    float unk_score = 0.0f;
    float max_score = FLT_MIN;  // SentencePiece's starting value, kept so user-defined scores match it

    impl(tokenizer_vocab v, std::vector<std::string> user_defined)
        : vocab(std::move(v)),
          norm(vocab.charsmap,
               normalizer_options{vocab.add_dummy_prefix, vocab.remove_extra_whitespaces, vocab.escape_whitespaces},
               std::move(user_defined)) {}

    std::vector<segment> split_special_tokens(std::string_view text) const;
    int32_t match_special(std::string_view text, size_t* length) const;
    void segment_text(std::string_view normalized, std::vector<int32_t>* ids) const;
};

static std::vector<std::string> validate(const tokenizer_vocab& v) {
    const size_t n = v.pieces.size();
    if (n == 0) throw invalid_vocab("no pieces");
    if (v.scores.size() != n || v.types.size() != n) {
        throw invalid_vocab(std::to_string(n) + " pieces but " + std::to_string(v.scores.size()) + " scores and " +
                            std::to_string(v.types.size()) + " types");
    }
    if (n + v.extra_ids > size_t(std::numeric_limits<int32_t>::max())) {
        throw invalid_vocab("too many pieces + extra ids");
    }
    const auto check_id = [&](int32_t id, const char* what) {
        if (id < 0 || size_t(id) >= n) {
            throw invalid_vocab(std::string(what) + " id " + std::to_string(id) + " is not a piece id (0.." +
                                std::to_string(n - 1) + ")");
        }
    };
    check_id(v.eos_id, "eos");
    check_id(v.unk_id, "unk");
    check_id(v.pad_id, "pad");
    for (const int32_t id : {v.eos_id, v.unk_id, v.pad_id}) {
        // HF matches these pieces literally in the raw text, so an empty one would match everywhere.
        if (v.pieces[size_t(id)].empty()) throw invalid_vocab("special piece " + std::to_string(id) + " is empty");
    }
    if (v.types[size_t(v.unk_id)] != unknown) {
        throw invalid_vocab("unk id " + std::to_string(v.unk_id) + " is piece '" + v.pieces[size_t(v.unk_id)] +
                            "' of type " + std::to_string(v.types[size_t(v.unk_id)]) + ", not 2 (unknown)");
    }
    std::vector<std::string> user_defined_pieces;
    for (size_t i = 0; i < n; ++i) {
        const int32_t type = v.types[i];
        if (type < normal || type > byte) {
            throw invalid_vocab("piece " + std::to_string(i) + " has type " + std::to_string(type) +
                                " (expected 1..6)");
        }
        if (!std::isfinite(v.scores[i])) throw invalid_vocab("piece " + std::to_string(i) + " has a non-finite score");
        if (type == user_defined) user_defined_pieces.push_back(v.pieces[i]);
    }
    return user_defined_pieces;
}

tokenizer::tokenizer(tokenizer_vocab vocab) : impl_(nullptr) {
    std::vector<std::string> user_defined_pieces = validate(vocab);
    impl_ = new impl(std::move(vocab), std::move(user_defined_pieces));
    try {
        const tokenizer_vocab& v = impl_->vocab;
        float min_score = FLT_MAX;
        for (size_t i = 0; i < v.pieces.size(); ++i) {
            const int32_t type = v.types[i];
            if (type == normal) {
                min_score = std::min(min_score, v.scores[i]);
                impl_->max_score = std::max(impl_->max_score, v.scores[i]);
            }
            if (type != normal && type != user_defined && type != unused) continue;
            if (v.pieces[i].empty()) throw invalid_vocab("piece " + std::to_string(i) + " is empty");
            if (!impl_->pieces.insert(v.pieces[i], static_cast<int32_t>(i))) {
                throw invalid_vocab("piece '" + v.pieces[i] + "' (id " + std::to_string(i) + ") is defined twice");
            }
        }
        impl_->unk_score = (min_score == FLT_MAX ? 0.0f : min_score) - unk_penalty;
    } catch (...) {
        delete impl_;
        throw;
    }
}

tokenizer::~tokenizer() { delete impl_; }

size_t tokenizer::vocab_size() const { return impl_->vocab.pieces.size() + impl_->vocab.extra_ids; }

int32_t tokenizer::pad_id() const { return impl_->vocab.pad_id; }

// The special token starting at text[0], as HF registers them for T5: the eos/pad/unk pieces and
// <extra_id_N> (N < extra_ids, written without leading zeros). Returns -1 when there is none.
int32_t tokenizer::impl::match_special(std::string_view text, size_t* length) const {
    for (const int32_t id : {vocab.eos_id, vocab.pad_id, vocab.unk_id}) {
        const std::string& literal = vocab.pieces[size_t(id)];
        if (text.substr(0, literal.size()) == literal) {
            *length = literal.size();
            return id;
        }
    }
    constexpr std::string_view extra_prefix = "<extra_id_";
    if (text.substr(0, extra_prefix.size()) != extra_prefix) return -1;
    size_t i = extra_prefix.size();
    uint64_t n = 0;
    const size_t digits_begin = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - digits_begin < 10) {
        n = n * 10 + uint64_t(text[i] - '0');
        ++i;
    }
    const size_t digits = i - digits_begin;
    if (digits == 0 || (digits > 1 && text[digits_begin] == '0')) return -1;
    if (i >= text.size() || text[i] != '>' || n >= vocab.extra_ids) return -1;
    *length = i + 1;
    return static_cast<int32_t>(vocab.pieces.size() + vocab.extra_ids - 1 - n);
}

// HF splits the raw text on its special tokens before SentencePiece sees it; <extra_id_N> tokens are registered
// with lstrip/rstrip, so they also eat the whitespace around them.
std::vector<segment> tokenizer::impl::split_special_tokens(std::string_view text) const {
    std::vector<segment> segments;
    size_t text_begin = 0;
    for (size_t i = 0; i < text.size();) {
        size_t length = 0;
        const int32_t id = match_special(text.substr(i), &length);
        if (id < 0) {
            ++i;
            continue;
        }
        if (i > text_begin) segments.push_back({text.substr(text_begin, i - text_begin)});
        segments.push_back({text.substr(i, length), id});
        i += length;
        text_begin = i;
    }
    if (text_begin < text.size()) segments.push_back({text.substr(text_begin)});

    const int32_t first_extra_id = static_cast<int32_t>(vocab.pieces.size());
    for (size_t i = 0; i < segments.size(); ++i) {
        if (segments[i].special_id < first_extra_id) continue;
        if (i > 0 && segments[i - 1].special_id < 0) {
            segments[i - 1].text = strip_python_whitespace(segments[i - 1].text, false, true);
        }
        if (i + 1 < segments.size() && segments[i + 1].special_id < 0) {
            segments[i + 1].text = strip_python_whitespace(segments[i + 1].text, true, false);
        }
    }
    return segments;
}

// SentencePiece's unigram Viterbi over the normalised text. Scores are summed like SentencePiece does (float
// path scores, a double candidate when a user-defined piece's bonus is involved) so ties resolve identically.
void tokenizer::impl::segment_text(std::string_view text, std::vector<int32_t>* ids) const {
    struct best_path_node {
        int32_t id = -1;
        float score = 0.0f;
        int64_t starts_at = -1;
    };
    const size_t size = text.size();
    std::vector<best_path_node> best(size + 1);
    for (size_t starts_at = 0; starts_at < size;) {
        const float score_here = best[starts_at].score;
        const size_t char_length = std::min(utf8_lead_length(static_cast<uint8_t>(text[starts_at])), size - starts_at);
        bool has_single_char_piece = false;
        pieces.for_each_prefix(text.substr(starts_at), [&](size_t length, int32_t id) {
            const int32_t type = vocab.types[size_t(id)];
            if (type == unused) return;
            const double piece_score =
                type == user_defined ? double(float(length) * max_score) - 0.1 : double(vocab.scores[size_t(id)]);
            const double candidate = piece_score + double(score_here);
            best_path_node& target = best[starts_at + length];
            if (target.starts_at < 0 || candidate > double(target.score)) {
                target = {id, static_cast<float>(candidate), static_cast<int64_t>(starts_at)};
            }
            if (length == char_length) has_single_char_piece = true;
        });
        if (!has_single_char_piece) {
            const float candidate = unk_score + score_here;
            best_path_node& target = best[starts_at + char_length];
            if (target.starts_at < 0 || candidate > target.score) {
                target = {vocab.unk_id, candidate, static_cast<int64_t>(starts_at)};
            }
        }
        starts_at += char_length;
    }

    const size_t first = ids->size();
    for (size_t end = size; end > 0;) {
        const best_path_node& node = best[end];
        ids->push_back(node.id);
        end = static_cast<size_t>(node.starts_at);
    }
    std::reverse(ids->begin() + static_cast<std::ptrdiff_t>(first), ids->end());

    // A run of unknown characters comes back as one unknown piece.
    size_t kept = first;
    for (size_t i = first; i < ids->size(); ++i) {
        const int32_t id = (*ids)[i];
        if (id == vocab.unk_id && kept > first && (*ids)[kept - 1] == vocab.unk_id) continue;
        (*ids)[kept++] = id;
    }
    ids->resize(kept);
}

std::vector<int32_t> tokenizer::encode(const std::string& text) const {
    std::vector<int32_t> ids;
    for (const segment& s : impl_->split_special_tokens(text)) {
        if (s.special_id >= 0) {
            ids.push_back(s.special_id);
        } else if (!s.text.empty()) {
            impl_->segment_text(impl_->norm.normalize(s.text), &ids);
        }
    }
    // T5Tokenizer appends eos unless the ids already end with it (a literal trailing "</s>").
    if (ids.empty() || ids.back() != impl_->vocab.eos_id) ids.push_back(impl_->vocab.eos_id);
    return ids;
}

}  // namespace mg
