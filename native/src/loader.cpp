#include "loader.h"

#include <ggml-alloc.h>
#include <ggml-backend.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <thread>
#include <unordered_set>
#include <vector>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "arch.h"
#include "encodec-weights.h"
#include "error.h"
#include "ggml-log.h"

namespace mg {

[[noreturn]] static void fail(const std::string& message) { throw error(error_code::model_invalid, message); }

// ---------------------------------------------------------------------------------------------------------------
// File mapping: the CPU backend uses the mapped weights in place (zero copy, pages shared with the OS cache).

class mapped_file {
  public:
    // nullptr where the platform or file system cannot map the file; the loader then reads it instead.
    static std::unique_ptr<mapped_file> map(const std::string& path, uint64_t size) {
#ifdef _WIN32
        return nullptr;
#else
        const int fd = ::open(path.c_str(), O_RDONLY);
        if (fd < 0) return nullptr;
        void* addr = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
        ::close(fd);  // the mapping keeps its own reference to the file
        if (addr == MAP_FAILED) return nullptr;
        return std::unique_ptr<mapped_file>(new mapped_file(addr, size));
#endif
    }

    ~mapped_file() {
#ifndef _WIN32
        ::munmap(addr_, size_);
#endif
    }

    const uint8_t* data() const { return static_cast<const uint8_t*>(addr_); }

  private:
    mapped_file(void* addr, uint64_t size) : addr_(addr), size_(size) {}
    void* addr_;
    uint64_t size_;
};

model::model() = default;
model::~model() = default;

// ---------------------------------------------------------------------------------------------------------------
// Typed access to the metadata: a missing key or a value of the wrong type is an error naming the key.

class gguf_keys {
  public:
    explicit gguf_keys(const gguf_context* ctx) : ctx_(ctx) {}

    bool has(const char* key) const { return gguf_find_key(ctx_, key) >= 0; }

    uint32_t u32(const char* key) const { return gguf_get_val_u32(ctx_, find(key, GGUF_TYPE_UINT32)); }
    float f32(const char* key) const { return gguf_get_val_f32(ctx_, find(key, GGUF_TYPE_FLOAT32)); }
    bool boolean(const char* key) const { return gguf_get_val_bool(ctx_, find(key, GGUF_TYPE_BOOL)); }
    std::string str(const char* key) const { return gguf_get_val_str(ctx_, find(key, GGUF_TYPE_STRING)); }

    // u32 in [min, max]: bounds keep every size derived from the metadata far from overflow.
    uint32_t u32_in(const char* key, uint32_t min, uint32_t max) const {
        const uint32_t v = u32(key);
        if (v < min || v > max) {
            fail("key '" + std::string(key) + "' is " + std::to_string(v) + ", expected " + std::to_string(min) + ".." +
                 std::to_string(max));
        }
        return v;
    }

    float positive_f32(const char* key) const {
        const float v = f32(key);
        if (!std::isfinite(v) || v <= 0.0f) {
            fail("key '" + std::string(key) + "' is " + std::to_string(v) + ", expected a positive number");
        }
        return v;
    }

    template <typename T>
    std::vector<T> array(const char* key, gguf_type element) const {
        const int64_t id = find_array(key, element);
        const size_t n = gguf_get_arr_n(ctx_, id);
        std::vector<T> out(n);
        if (n > 0) std::memcpy(out.data(), gguf_get_arr_data(ctx_, id), n * sizeof(T));
        return out;
    }

    std::vector<std::string> strings(const char* key) const {
        const int64_t id = find_array(key, GGUF_TYPE_STRING);
        std::vector<std::string> out(gguf_get_arr_n(ctx_, id));
        for (size_t i = 0; i < out.size(); ++i) out[i] = gguf_get_arr_str(ctx_, id, i);
        return out;
    }

  private:
    int64_t find(const char* key, gguf_type type) const {
        const int64_t id = gguf_find_key(ctx_, key);
        if (id < 0) fail("required key '" + std::string(key) + "' is missing");
        const gguf_type got = gguf_get_kv_type(ctx_, id);
        if (got != type) {
            fail("key '" + std::string(key) + "' has type " + describe(id) + ", expected " + gguf_type_name(type));
        }
        return id;
    }

    int64_t find_array(const char* key, gguf_type element) const {
        const int64_t id = gguf_find_key(ctx_, key);
        if (id < 0) fail("required key '" + std::string(key) + "' is missing");
        if (gguf_get_kv_type(ctx_, id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(ctx_, id) != element) {
            fail("key '" + std::string(key) + "' has type " + describe(id) + ", expected array of " +
                 gguf_type_name(element));
        }
        return id;
    }

    std::string describe(int64_t id) const {
        const gguf_type type = gguf_get_kv_type(ctx_, id);
        if (type != GGUF_TYPE_ARRAY) return gguf_type_name(type);
        return std::string("array of ") + gguf_type_name(gguf_get_arr_type(ctx_, id));
    }

    const gguf_context* ctx_;
};

// ---------------------------------------------------------------------------------------------------------------
// Hyper-parameters, validated so that every shape derived from them is meaningful.

constexpr uint32_t max_size = 1u << 24;  // far above any MusicGen dimension, far below overflow

static std::string read_string_enum(const gguf_keys& keys, const char* key,
                                    std::initializer_list<const char*> allowed) {
    const std::string v = keys.str(key);
    std::string list;
    for (const char* a : allowed) {
        if (v == a) return v;
        list += (list.empty() ? "'" : ", '") + std::string(a) + "'";
    }
    fail("key '" + std::string(key) + "' is '" + v + "', expected one of " + list);
}

static t5_hparams read_t5(const gguf_keys& keys) {
    t5_hparams hp;
    hp.n_vocab = keys.u32_in(kv::t5_vocab_size, 1, max_size);
    hp.n_embd = keys.u32_in(kv::t5_embedding_length, 1, max_size);
    hp.n_ff = keys.u32_in(kv::t5_feed_forward_length, 1, max_size);
    hp.n_layer = keys.u32_in(kv::t5_block_count, 1, 1024);
    hp.n_head = keys.u32_in(kv::t5_head_count, 1, 1024);
    hp.n_head_dim = keys.u32_in(kv::t5_key_length, 1, 4096);
    hp.n_rel_buckets = keys.u32_in(kv::t5_relative_buckets, 2, max_size);
    hp.rel_max_distance = keys.u32_in(kv::t5_relative_max_distance, 1, max_size);
    hp.eps = keys.positive_f32(kv::t5_layer_norm_epsilon);
    hp.ffn_act = read_string_enum(keys, kv::t5_feed_forward_act, {"relu", "gated-gelu"}) == "relu"
                     ? t5_ffn_act::relu
                     : t5_ffn_act::gated_gelu;
    return hp;
}

static lm_hparams read_lm(const gguf_keys& keys) {
    lm_hparams hp;
    hp.variant =
        read_string_enum(keys, kv::variant, {"text", "melody"}) == "text" ? lm_variant::text : lm_variant::melody;
    hp.audio_channels = keys.u32_in(kv::audio_channels, 1, 2);
    hp.n_codebooks = keys.u32_in(kv::lm_codebook_count, 1, 64);
    hp.codebook_size = keys.u32_in(kv::lm_codebook_size, 1, max_size);
    hp.n_embd = keys.u32_in(kv::lm_embedding_length, 1, max_size);
    hp.n_ff = keys.u32_in(kv::lm_feed_forward_length, 1, max_size);
    hp.n_layer = keys.u32_in(kv::lm_block_count, 1, 1024);
    hp.n_head = keys.u32_in(kv::lm_head_count, 1, 1024);
    hp.max_position = keys.u32_in(kv::lm_max_position, 1, max_size);
    hp.eps = keys.positive_f32(kv::lm_layer_norm_epsilon);
    if (hp.n_embd % hp.n_head != 0) {
        fail("key '" + std::string(kv::lm_embedding_length) + "' (" + std::to_string(hp.n_embd) +
             ") is not a multiple of '" + kv::lm_head_count + "' (" + std::to_string(hp.n_head) + ")");
    }
    if (hp.n_codebooks % hp.audio_channels != 0) {
        fail("key '" + std::string(kv::lm_codebook_count) + "' (" + std::to_string(hp.n_codebooks) +
             ") is not a multiple of '" + kv::audio_channels + "' (" + std::to_string(hp.audio_channels) + ")");
    }
    return hp;
}

static codec_hparams read_codec(const gguf_keys& keys) {
    codec_hparams hp;
    hp.sample_rate = keys.u32_in(kv::codec_sample_rate, 1, max_size);
    hp.hidden_size = keys.u32_in(kv::codec_hidden_size, 1, max_size);
    hp.num_filters = keys.u32_in(kv::codec_num_filters, 1, 65536);
    hp.upsampling_ratios = keys.array<uint32_t>(kv::codec_upsampling_ratios, GGUF_TYPE_UINT32);
    if (hp.upsampling_ratios.empty() || hp.upsampling_ratios.size() > 8) {
        fail("key '" + std::string(kv::codec_upsampling_ratios) + "' has " +
             std::to_string(hp.upsampling_ratios.size()) + " entries, expected 1..8");
    }
    uint64_t hop = 1;  // checked as it grows: 8 ratios of up to 1024 would overflow (2^64 wraps to 0)
    for (uint32_t r : hp.upsampling_ratios) {
        if (r < 1 || r > 1024) {
            fail("key '" + std::string(kv::codec_upsampling_ratios) + "' contains " + std::to_string(r) +
                 ", expected ratios in 1..1024");
        }
        hop *= r;
        if (hop > max_size) {
            fail("key '" + std::string(kv::codec_upsampling_ratios) + "' multiplies to more than " +
                 std::to_string(max_size) + " samples per codec frame");
        }
    }
    hp.kernel_size = keys.u32_in(kv::codec_kernel_size, 1, 1024);
    hp.last_kernel_size = keys.u32_in(kv::codec_last_kernel_size, 1, 1024);
    hp.residual_kernel_size = keys.u32_in(kv::codec_residual_kernel_size, 1, 1024);
    hp.num_residual_layers = keys.u32_in(kv::codec_num_residual_layers, 0, 8);
    hp.dilation_growth_rate = keys.u32_in(kv::codec_dilation_growth_rate, 1, 16);
    hp.compress = keys.u32_in(kv::codec_compress, 1, hp.num_filters);
    hp.num_lstm_layers = keys.u32_in(kv::codec_num_lstm_layers, 1, 16);
    hp.codebook_size = keys.u32_in(kv::codec_codebook_size, 1, max_size);
    hp.n_quantizers = keys.u32_in(kv::codec_quantizer_count, 1, 64);
    // The reference EnCodec of MusicGen is non-causal with reflect padding; other settings would
    // need another padding scheme in the graph code.
    hp.causal = keys.boolean(kv::codec_causal);
    if (hp.causal) fail("key '" + std::string(kv::codec_causal) + "' is true: causal EnCodec is not supported");
    hp.pad_mode = read_string_enum(keys, kv::codec_pad_mode, {"reflect"});
    return hp;
}

static melody_hparams read_melody(const gguf_keys& keys) {
    melody_hparams hp;
    hp.num_chroma = keys.u32_in(kv::melody_num_chroma, 1, 4096);
    hp.chroma_length = keys.u32_in(kv::melody_chroma_length, 1, max_size);
    hp.n_fft = keys.u32_in(kv::melody_n_fft, 1, max_size);
    hp.hop_length = keys.u32_in(kv::melody_hop_length, 1, max_size);
    hp.chunk_length = keys.u32_in(kv::melody_chunk_length, 1, 86400);
    return hp;
}

static model_hparams read_hparams(const gguf_keys& keys) {
    model_hparams hp;
    hp.name = keys.str(kv::name);
    hp.file_type = keys.u32(kv::file_type);
    const uint32_t qnt = keys.u32(kv::quantization_version);
    if (qnt != GGML_QNT_VERSION) {
        fail("key '" + std::string(kv::quantization_version) + "' is " + std::to_string(qnt) + ", expected " +
             std::to_string(GGML_QNT_VERSION) + " (this ggml's block layouts)");
    }
    hp.sample_rate = keys.u32_in(kv::sample_rate, 1, max_size);
    hp.frame_rate = keys.u32_in(kv::frame_rate, 1, max_size);
    hp.t5 = read_t5(keys);
    hp.lm = read_lm(keys);
    hp.codec = read_codec(keys);
    if (hp.lm.variant == lm_variant::melody) hp.melody = read_melody(keys);
    hp.generation.max_length = keys.u32_in(kv::gen_max_length, 1, max_size);
    hp.generation.guidance_scale = keys.f32(kv::gen_guidance_scale);
    if (!std::isfinite(hp.generation.guidance_scale) || hp.generation.guidance_scale < 0.0f) {
        fail("key '" + std::string(kv::gen_guidance_scale) + "' is " + std::to_string(hp.generation.guidance_scale) +
             ", expected a finite number >= 0");
    }
    // The pad code indexes the embeddings, which have codebook_size + 1 rows.
    hp.generation.pad_token_id = keys.u32_in(kv::gen_pad_token_id, 0, hp.lm.codebook_size);

    // Cross-component consistency: codes index the codec's codebooks, frames map to samples.
    const codec_hparams& c = hp.codec;
    if (c.sample_rate != hp.sample_rate) {
        fail("key '" + std::string(kv::codec_sample_rate) + "' (" + std::to_string(c.sample_rate) + ") differs from '" +
             kv::sample_rate + "' (" + std::to_string(hp.sample_rate) + ")");
    }
    const uint64_t hop = c.hop_length();
    const uint64_t expected_frame_rate = (hp.sample_rate + hop - 1) / hop;  // HF: ceil(sampling_rate / hop)
    if (hp.frame_rate != expected_frame_rate) {
        fail("key '" + std::string(kv::frame_rate) + "' is " + std::to_string(hp.frame_rate) + ", expected " +
             std::to_string(expected_frame_rate) + " (sample rate " + std::to_string(hp.sample_rate) +
             " / hop length " + std::to_string(hop) + ")");
    }
    if (c.codebook_size != hp.lm.codebook_size) {
        fail("key '" + std::string(kv::codec_codebook_size) + "' (" + std::to_string(c.codebook_size) +
             ") differs from '" + kv::lm_codebook_size + "' (" + std::to_string(hp.lm.codebook_size) + ")");
    }
    const uint32_t per_channel = hp.lm.n_codebooks / hp.lm.audio_channels;
    if (c.n_quantizers < per_channel) {
        fail("key '" + std::string(kv::codec_quantizer_count) + "' is " + std::to_string(c.n_quantizers) +
             ", but the LM predicts " + std::to_string(per_channel) + " codebooks per channel");
    }
    return hp;
}

// ---------------------------------------------------------------------------------------------------------------
// Tokenizer vocabulary (tokenizer.ggml.*).

static int32_t token_id(const gguf_keys& keys, const char* key) {
    return static_cast<int32_t>(keys.u32_in(key, 0, INT32_MAX));
}

static tokenizer_vocab read_vocab(const gguf_keys& keys) {
    read_string_enum(keys, kv::tok_model, {"t5"});
    tokenizer_vocab v;
    v.pieces = keys.strings(kv::tok_tokens);
    v.scores = keys.array<float>(kv::tok_scores, GGUF_TYPE_FLOAT32);
    v.types = keys.array<int32_t>(kv::tok_token_type, GGUF_TYPE_INT32);
    v.charsmap = keys.array<uint8_t>(kv::tok_charsmap, GGUF_TYPE_UINT8);
    v.add_dummy_prefix = keys.boolean(kv::tok_add_space_prefix);
    v.remove_extra_whitespaces = keys.boolean(kv::tok_remove_extra_whitespaces);
    v.escape_whitespaces = keys.boolean(kv::tok_escape_whitespaces);
    v.eos_id = token_id(keys, kv::tok_eos_id);
    v.unk_id = token_id(keys, kv::tok_unknown_id);
    v.pad_id = token_id(keys, kv::tok_padding_id);
    v.extra_ids = keys.u32_in(kv::tok_extra_ids, 0, max_size);
    return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Tensors: each is looked up by name with the dimensions the hyper-parameters imply and a type its role allows.

enum class role {
    matrix,  // matrix multiplications and embedding lookups: float or ggml's quantised formats
    f32,     // norms, biases, tables and small projections: always F32
    conv,    // EnCodec convolutions and LSTMs: ggml's convolutions take F16/F32 kernels only
};

static bool allowed(role r, ggml_type type) {
    switch (r) {
        case role::matrix:
            return type == GGML_TYPE_F32 || type == GGML_TYPE_F16 || type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0 ||
                   type == GGML_TYPE_Q4_K;
        case role::f32:
            return type == GGML_TYPE_F32;
        case role::conv:
            return type == GGML_TYPE_F32 || type == GGML_TYPE_F16;
    }
    return false;
}

static const char* allowed_list(role r) {
    switch (r) {
        case role::matrix:
            return "one of f32, f16, q8_0, q4_0, q4_K";
        case role::f32:
            return "f32";
        case role::conv:
            return "f32 or f16";
    }
    return "";
}

static std::string shape_string(const int64_t* ne, size_t n) {
    std::string s = "[";
    for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
}

class tensor_table {
  public:
    explicit tensor_table(ggml_context* ctx) : ctx_(ctx) {}

    ggml_tensor* get(const std::string& name, std::initializer_list<int64_t> dims, role r, bool required = true) {
        ggml_tensor* t = ggml_get_tensor(ctx_, name.c_str());
        const std::vector<int64_t> want(dims);
        if (!t) {
            if (required) {
                fail("missing tensor '" + name + "' (expected shape " + shape_string(want.data(), want.size()) + ")");
            }
            return nullptr;
        }
        bool same = true;
        for (int i = 0; i < GGML_MAX_DIMS; ++i) {
            same = same && t->ne[i] == (i < static_cast<int>(want.size()) ? want[i] : 1);
        }
        if (!same) {
            const size_t shown = std::max(want.size(), static_cast<size_t>(ggml_n_dims(t)));
            fail("tensor '" + name + "' has shape " + shape_string(t->ne, shown) + ", expected " +
                 shape_string(want.data(), want.size()));
        }
        if (!allowed(r, t->type)) {
            fail("tensor '" + name + "' has type " + ggml_type_name(t->type) + ", expected " + allowed_list(r));
        }
        used_.insert(t);
        return t;
    }

    // Anything the format does not define for these hyper-parameters means the file and the metadata
    // disagree (e.g. cross-attention weights in a melody model): rejected rather than silently ignored.
    void reject_unused() const {
        for (ggml_tensor* t = ggml_get_first_tensor(ctx_); t; t = ggml_get_next_tensor(ctx_, t)) {
            if (!used_.count(t)) {
                fail("unexpected tensor '" + std::string(t->name) +
                     "': not part of the musicgen format for this file's hyper-parameters");
            }
        }
    }

  private:
    ggml_context* ctx_;
    std::unordered_set<const ggml_tensor*> used_;
};

static t5_encoder bind_t5(tensor_table& tt, const t5_hparams& hp) {
    const int64_t d = hp.n_embd, inner = int64_t{hp.n_head} * hp.n_head_dim, ff = hp.n_ff;
    t5_encoder t5;
    t5.token_embd = tt.get(tensor_name(tn::t5_token_embd, "weight"), {d, hp.n_vocab}, role::matrix);
    t5.rel_bias = tt.get(tensor_name(tn::t5_rel_bias, "weight"), {hp.n_head, hp.n_rel_buckets}, role::f32);
    t5.layers.resize(hp.n_layer);
    for (int l = 0; l < static_cast<int>(hp.n_layer); ++l) {
        t5_layer& b = t5.layers[l];
        b.attn_norm = tt.get(tensor_name(tn::t5_attn_norm, "weight", l), {d}, role::f32);
        b.attn_q = tt.get(tensor_name(tn::t5_attn_q, "weight", l), {d, inner}, role::matrix);
        b.attn_k = tt.get(tensor_name(tn::t5_attn_k, "weight", l), {d, inner}, role::matrix);
        b.attn_v = tt.get(tensor_name(tn::t5_attn_v, "weight", l), {d, inner}, role::matrix);
        b.attn_o = tt.get(tensor_name(tn::t5_attn_o, "weight", l), {inner, d}, role::matrix);
        b.ffn_norm = tt.get(tensor_name(tn::t5_ffn_norm, "weight", l), {d}, role::f32);
        b.ffn_up = tt.get(tensor_name(tn::t5_ffn_up, "weight", l), {d, ff}, role::matrix);
        if (hp.ffn_act == t5_ffn_act::gated_gelu) {
            b.ffn_gate = tt.get(tensor_name(tn::t5_ffn_gate, "weight", l), {d, ff}, role::matrix);
        }
        b.ffn_down = tt.get(tensor_name(tn::t5_ffn_down, "weight", l), {ff, d}, role::matrix);
    }
    t5.output_norm = tt.get(tensor_name(tn::t5_output_norm, "weight"), {d}, role::f32);
    return t5;
}

static cond_proj bind_cond(tensor_table& tt, const model_hparams& hp) {
    const int64_t d = hp.t5.n_embd, h = hp.lm.n_embd;
    cond_proj cond;
    // HF only creates a projection when the widths differ; a file may still carry one otherwise.
    cond.text_proj_w = tt.get(tensor_name(tn::cond_text_proj, "weight"), {d, h}, role::f32, d != h);
    if (cond.text_proj_w) cond.text_proj_b = tt.get(tensor_name(tn::cond_text_proj, "bias"), {h}, role::f32);
    if (hp.lm.variant == lm_variant::melody) {
        const int64_t c = hp.melody.num_chroma;
        cond.chroma_proj_w = tt.get(tensor_name(tn::cond_chroma_proj, "weight"), {c, h}, role::f32, c != h);
        if (cond.chroma_proj_w) cond.chroma_proj_b = tt.get(tensor_name(tn::cond_chroma_proj, "bias"), {h}, role::f32);
    }
    return cond;
}

static musicgen_lm bind_lm(tensor_table& tt, const lm_hparams& hp) {
    const int64_t h = hp.n_embd, ff = hp.n_ff, v = hp.codebook_size;
    const int k_count = static_cast<int>(hp.n_codebooks);
    musicgen_lm lm;
    for (int k = 0; k < k_count; ++k) {
        lm.tok_embd.push_back(tt.get(tensor_name(tn::lm_tok_embd, "weight", k), {h, v + 1}, role::matrix));
    }
    lm.pos_embd = tt.get(tensor_name(tn::lm_pos_embd, "weight"), {h, hp.max_position}, role::f32);
    lm.layers.resize(hp.n_layer);
    for (int l = 0; l < static_cast<int>(hp.n_layer); ++l) {
        lm_layer& b = lm.layers[l];
        b.attn_norm_w = tt.get(tensor_name(tn::lm_attn_norm, "weight", l), {h}, role::f32);
        b.attn_norm_b = tt.get(tensor_name(tn::lm_attn_norm, "bias", l), {h}, role::f32);
        b.attn_q = tt.get(tensor_name(tn::lm_attn_q, "weight", l), {h, h}, role::matrix);
        b.attn_k = tt.get(tensor_name(tn::lm_attn_k, "weight", l), {h, h}, role::matrix);
        b.attn_v = tt.get(tensor_name(tn::lm_attn_v, "weight", l), {h, h}, role::matrix);
        b.attn_o = tt.get(tensor_name(tn::lm_attn_o, "weight", l), {h, h}, role::matrix);
        if (hp.variant == lm_variant::text) {
            b.cross_attn_norm_w = tt.get(tensor_name(tn::lm_cross_attn_norm, "weight", l), {h}, role::f32);
            b.cross_attn_norm_b = tt.get(tensor_name(tn::lm_cross_attn_norm, "bias", l), {h}, role::f32);
            b.cross_attn_q = tt.get(tensor_name(tn::lm_cross_attn_q, "weight", l), {h, h}, role::matrix);
            b.cross_attn_k = tt.get(tensor_name(tn::lm_cross_attn_k, "weight", l), {h, h}, role::matrix);
            b.cross_attn_v = tt.get(tensor_name(tn::lm_cross_attn_v, "weight", l), {h, h}, role::matrix);
            b.cross_attn_o = tt.get(tensor_name(tn::lm_cross_attn_o, "weight", l), {h, h}, role::matrix);
        }
        b.ffn_norm_w = tt.get(tensor_name(tn::lm_ffn_norm, "weight", l), {h}, role::f32);
        b.ffn_norm_b = tt.get(tensor_name(tn::lm_ffn_norm, "bias", l), {h}, role::f32);
        b.ffn_up = tt.get(tensor_name(tn::lm_ffn_up, "weight", l), {h, ff}, role::matrix);
        b.ffn_down = tt.get(tensor_name(tn::lm_ffn_down, "weight", l), {ff, h}, role::matrix);
    }
    lm.output_norm_w = tt.get(tensor_name(tn::lm_output_norm, "weight"), {h}, role::f32);
    lm.output_norm_b = tt.get(tensor_name(tn::lm_output_norm, "bias"), {h}, role::f32);
    for (int k = 0; k < k_count; ++k) {
        lm.output.push_back(tt.get(tensor_name(tn::lm_output, "weight", k), {h, v}, role::matrix));
    }
    return lm;
}

// Builds one SEANet stack (HF's EncodecEncoder / EncodecDecoder `layers`) as an ordered stage list.
class codec_stack_builder {
  public:
    codec_stack_builder(tensor_table& tt, const codec_hparams& hp, bool decoder)
        : tt_(tt),
          hp_(hp),
          conv_stem_(decoder ? tn::codec_dec_conv : tn::codec_enc_conv),
          res_stem_(decoder ? tn::codec_dec_res : tn::codec_enc_res),
          lstm_stem_(decoder ? tn::codec_dec_lstm : tn::codec_enc_lstm) {}

    void conv(int64_t in, int64_t out, int kernel, int stride, bool transposed) {
        encodec_stage s = next(encodec_stage_kind::conv);
        s.conv = make_conv(conv_stem_, s.index, -1, in, out, kernel, stride, 1, transposed);
        stages_.push_back(s);
    }

    void elu() { stages_.push_back(next(encodec_stage_kind::elu)); }

    void lstm(int64_t c) {
        encodec_stage s = next(encodec_stage_kind::lstm);
        for (int n = 0; n < static_cast<int>(hp_.num_lstm_layers); ++n) {
            encodec_lstm_layer l;
            l.w_ih = tt_.get(tensor_name(lstm_stem_, "w_ih", s.index, n), {c, 4 * c}, role::conv);
            l.w_hh = tt_.get(tensor_name(lstm_stem_, "w_hh", s.index, n), {c, 4 * c}, role::conv);
            l.b_ih = tt_.get(tensor_name(lstm_stem_, "b_ih", s.index, n), {4 * c}, role::f32);
            l.b_hh = tt_.get(tensor_name(lstm_stem_, "b_hh", s.index, n), {4 * c}, role::f32);
            s.lstm.layers.push_back(l);
        }
        stages_.push_back(s);
    }

    // HF's residual layers j = 0.. of one level: dilation growth^j on the first conv.
    void resblocks(int64_t dim) {
        int dilation = 1;
        for (uint32_t j = 0; j < hp_.num_residual_layers; ++j) {
            encodec_stage s = next(encodec_stage_kind::resblock);
            const int64_t hidden = dim / hp_.compress;
            // Sub-module indices 1 and 3 of HF's block list (0 and 2 are the parameter-free ELUs).
            s.res.conv1 = make_conv(res_stem_, s.index, 1, dim, hidden, hp_.residual_kernel_size, 1, dilation, false);
            s.res.conv2 = make_conv(res_stem_, s.index, 3, hidden, dim, 1, 1, 1, false);
            stages_.push_back(s);
            // Not after the last block: growth 16 over 8 blocks would overflow int (16^8 = 2^32).
            if (j + 1 < hp_.num_residual_layers) dilation *= static_cast<int>(hp_.dilation_growth_rate);
        }
    }

    std::vector<encodec_stage> take() { return std::move(stages_); }

  private:
    encodec_stage next(encodec_stage_kind kind) {
        encodec_stage s;
        s.kind = kind;
        s.index = static_cast<int>(stages_.size());
        return s;
    }

    encodec_conv make_conv(tn stem, int i, int j, int64_t in, int64_t out, int kernel, int stride, int dilation,
                           bool transposed) {
        encodec_conv c;
        c.kernel = kernel;
        c.stride = stride;
        c.dilation = dilation;
        c.transposed = transposed;
        // PyTorch keeps Conv1d as [out, in, k] and ConvTranspose1d as [in, out, k]; ggml order reverses that.
        const int64_t k = kernel;
        c.weight = transposed ? tt_.get(tensor_name(stem, "weight", i, j), {k, out, in}, role::conv)
                              : tt_.get(tensor_name(stem, "weight", i, j), {k, in, out}, role::conv);
        c.bias = tt_.get(tensor_name(stem, "bias", i, j), {out}, role::f32);
        return c;
    }

    tensor_table& tt_;
    const codec_hparams& hp_;
    tn conv_stem_, res_stem_, lstm_stem_;
    std::vector<encodec_stage> stages_;
};

// EnCodec's audio side is mono: stereo MusicGen runs the codec once per channel.
constexpr int64_t codec_audio_channels = 1;

static encodec bind_codec(tensor_table& tt, const codec_hparams& hp) {
    encodec codec;
    for (int q = 0; q < static_cast<int>(hp.n_quantizers); ++q) {
        codec.rvq.push_back(
            tt.get(tensor_name(tn::codec_rvq, "codebook", q), {hp.hidden_size, hp.codebook_size}, role::f32));
    }
    const int64_t inner = static_cast<int64_t>(hp.inner_channels());
    const int kernel = static_cast<int>(hp.kernel_size), last_kernel = static_cast<int>(hp.last_kernel_size);

    codec_stack_builder dec(tt, hp, /*decoder=*/true);
    dec.conv(hp.hidden_size, inner, kernel, 1, false);
    dec.lstm(inner);
    int64_t channels = inner;
    for (uint32_t ratio : hp.upsampling_ratios) {
        const int r = static_cast<int>(ratio);
        dec.elu();
        dec.conv(channels, channels / 2, 2 * r, r, /*transposed=*/true);
        dec.resblocks(channels / 2);
        channels /= 2;
    }
    dec.elu();
    dec.conv(hp.num_filters, codec_audio_channels, last_kernel, 1, false);
    codec.decoder = dec.take();

    codec_stack_builder enc(tt, hp, /*decoder=*/false);
    enc.conv(codec_audio_channels, hp.num_filters, kernel, 1, false);
    channels = hp.num_filters;
    for (auto it = hp.upsampling_ratios.rbegin(); it != hp.upsampling_ratios.rend(); ++it) {
        const int r = static_cast<int>(*it);
        enc.resblocks(channels);
        enc.elu();
        enc.conv(channels, channels * 2, 2 * r, r, false);
        channels *= 2;
    }
    enc.lstm(inner);
    enc.elu();
    enc.conv(inner, hp.hidden_size, last_kernel, 1, false);
    codec.encoder = enc.take();
    return codec;
}

// ---------------------------------------------------------------------------------------------------------------
// Opening and validating a file.

struct opened_file {
    gguf_context_ptr meta;
    ggml_context_ptr ctx;
    uint64_t file_bytes = 0;
    uint64_t data_offset = 0;
    model_hparams hparams;
    std::unique_ptr<tokenizer> vocab;
};

static uint64_t check_readable(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p = fs::u8path(path);
    const fs::file_status st = fs::status(p, ec);
    if (ec || !fs::exists(st)) throw error(error_code::model_not_found, "no such file");
    if (fs::is_directory(st)) throw error(error_code::model_not_found, "is a directory, expected a .gguf file");
    FILE* f = ggml_fopen(path.c_str(), "rb");
    if (!f) throw error(error_code::model_not_found, std::string("cannot open file: ") + std::strerror(errno));
    std::fclose(f);
    const uintmax_t size = fs::file_size(p, ec);
    if (ec) throw error(error_code::model_not_found, "cannot read the file size: " + ec.message());
    return size;
}

// What the pinned ggml's gguf_init_from_file (gguf.cpp) cannot be given safely, checked first by walking the header:
// it checks a tensor's element count with INT64_MAX / ne[j], which divides by zero (SIGFPE) when a dimension is 0,
// it loads value and tensor types from the file straight into enums (undefined behaviour when out of range), and
// it aborts the process (GGML_ASSERT) on an empty key.
// No musicgen tensor is empty. Everything else odd (magic, version, truncation, sizes) is left to gguf to report.
class header_walker {
  public:
    header_walker(const std::string& path, uint64_t file_bytes)
        : file_(ggml_fopen(path.c_str(), "rb"), &std::fclose), left_(file_bytes) {}

    bool ok() const { return file_ != nullptr; }

    template <typename T>
    bool read(T* out) {
        if (left_ < sizeof(T) || std::fread(out, sizeof(T), 1, file_.get()) != 1) return false;
        left_ -= sizeof(T);
        return true;
    }

    bool skip(uint64_t bytes) {
        if (bytes > left_ || seek_by(bytes) != 0) return false;
        left_ -= bytes;
        return true;
    }

    bool read_string(std::string* out) {
        uint64_t n;
        if (!read(&n) || n > left_) return false;
        out->resize(static_cast<size_t>(n));
        if (n > 0 && std::fread(out->data(), 1, out->size(), file_.get()) != out->size()) return false;
        left_ -= n;
        return true;
    }

    bool skip_string() {
        uint64_t n;
        return read(&n) && skip(n);
    }

  private:
    int seek_by(uint64_t bytes) {
#ifdef _WIN32
        return _fseeki64(file_.get(), static_cast<int64_t>(bytes), SEEK_CUR);
#else
        return fseeko(file_.get(), static_cast<off_t>(bytes), SEEK_CUR);
#endif
    }

    std::unique_ptr<FILE, int (*)(FILE*)> file_;
    uint64_t left_;
};

static void precheck_gguf_header(const std::string& path, uint64_t file_bytes) {
    header_walker w(path, file_bytes);
    char magic[4];
    uint32_t version;
    int64_t n_tensors, n_kv;
    if (!w.ok() || !w.read(&magic) || std::memcmp(magic, "GGUF", 4) != 0 || !w.read(&version) ||
        (version != 2 && version != 3) || !w.read(&n_tensors) || !w.read(&n_kv) || n_tensors < 0 || n_kv < 0) {
        return;
    }
    const auto scalar_bytes = [](uint32_t type) -> uint64_t {  // 0: not a fixed-size scalar type
        switch (type) {
            case GGUF_TYPE_UINT8:
            case GGUF_TYPE_INT8:
            case GGUF_TYPE_BOOL:
                return 1;
            case GGUF_TYPE_UINT16:
            case GGUF_TYPE_INT16:
                return 2;
            case GGUF_TYPE_UINT32:
            case GGUF_TYPE_INT32:
            case GGUF_TYPE_FLOAT32:
                return 4;
            case GGUF_TYPE_UINT64:
            case GGUF_TYPE_INT64:
            case GGUF_TYPE_FLOAT64:
                return 8;
            default:
                return 0;
        }
    };
    const auto check_type = [](const std::string& key, uint32_t type) {
        if (type >= GGUF_TYPE_COUNT) fail("key '" + key + "' has unknown GGUF value type " + std::to_string(type));
    };
    for (int64_t i = 0; i < n_kv; ++i) {
        std::string key;
        uint32_t type;
        if (!w.read_string(&key)) return;
        if (key.empty()) fail("metadata key " + std::to_string(i) + " is an empty string");  // gguf aborts on it
        if (!w.read(&type)) return;
        check_type(key, type);
        if (type == GGUF_TYPE_STRING) {
            if (!w.skip_string()) return;
        } else if (type == GGUF_TYPE_ARRAY) {
            uint32_t element;
            uint64_t n;
            if (!w.read(&element)) return;
            check_type(key, element);
            if (!w.read(&n)) return;
            if (element == GGUF_TYPE_STRING) {
                for (uint64_t j = 0; j < n; ++j) {
                    if (!w.skip_string()) return;  // each string takes 8 bytes at least: bounded by the file
                }
            } else {
                const uint64_t size = scalar_bytes(element);
                if (size == 0 || n > UINT64_MAX / size || !w.skip(n * size)) return;
            }
        } else {
            const uint64_t size = scalar_bytes(type);
            if (size == 0 || !w.skip(size)) return;
        }
    }
    for (int64_t i = 0; i < n_tensors; ++i) {
        std::string name;
        uint32_t n_dims;
        if (!w.read_string(&name) || !w.read(&n_dims) || n_dims > GGML_MAX_DIMS) return;
        for (uint32_t j = 0; j < n_dims; ++j) {
            int64_t ne;
            if (!w.read(&ne)) return;
            if (ne == 0) fail("tensor '" + name + "' has a dimension of size 0 (dimension " + std::to_string(j) + ")");
        }
        uint32_t type;
        if (!w.read(&type)) return;
        if (type >= GGML_TYPE_COUNT) fail("tensor '" + name + "' has unknown ggml type " + std::to_string(type));
        uint64_t offset;
        if (!w.read(&offset)) return;
    }
}

static opened_file open_model_file(const std::string& path) {
    opened_file f;
    f.file_bytes = check_readable(path);
    precheck_gguf_header(path, f.file_bytes);
    {
        ggml_error_capture capture;
        ggml_context* ctx = nullptr;
        f.meta.reset(gguf_init_from_file(path.c_str(), {/*no_alloc=*/true, /*ctx=*/&ctx}));
        f.ctx.reset(ctx);
        if (!f.meta) {
            const std::string reason = capture.reason();
            fail("not a GGUF file or corrupt header" + (reason.empty() ? "" : " (" + reason + ")"));
        }
    }
    const gguf_keys keys(f.meta.get());
    if (!keys.has(kv::architecture)) fail("not a musicgen model: key 'general.architecture' is missing");
    const std::string arch = keys.str(kv::architecture);
    if (arch != arch_name) fail("architecture '" + arch + "' is not supported, expected '" + arch_name + "'");

    // Every tensor's bytes must lie inside the file: reading past the end of a mapping would SIGBUS.
    f.data_offset = gguf_get_data_offset(f.meta.get());
    const uint64_t data_bytes = f.file_bytes > f.data_offset ? f.file_bytes - f.data_offset : 0;
    for (int64_t i = 0; i < gguf_get_n_tensors(f.meta.get()); ++i) {
        const uint64_t offset = gguf_get_tensor_offset(f.meta.get(), i);
        const uint64_t end = offset + gguf_get_tensor_size(f.meta.get(), i);
        if (end > data_bytes) {
            fail("tensor '" + std::string(gguf_get_tensor_name(f.meta.get(), i)) + "' data ends at byte " +
                 std::to_string(f.data_offset + end) + " but the file has only " + std::to_string(f.file_bytes) +
                 " bytes (truncated file?)");
        }
    }

    f.hparams = read_hparams(keys);
    f.vocab = std::make_unique<tokenizer>(read_vocab(keys));
    if (f.vocab->vocab_size() > f.hparams.t5.n_vocab) {
        fail("the tokenizer has " + std::to_string(f.vocab->vocab_size()) + " tokens but '" + kv::t5_vocab_size +
             "' is only " + std::to_string(f.hparams.t5.n_vocab));
    }
    return f;
}

// Resolves every tensor the hyper-parameters call for into `m` and rejects leftovers.
static void bind_tensors(ggml_context* ctx, const model_hparams& hp, model& m) {
    tensor_table tt(ctx);
    m.t5 = bind_t5(tt, hp.t5);
    m.cond = bind_cond(tt, hp);
    m.lm = bind_lm(tt, hp.lm);
    m.codec = bind_codec(tt, hp.codec);
    tt.reject_unused();
}

model_file_info inspect_model(const std::string& path) {
    opened_file f = open_model_file(path);
    model scratch;
    bind_tensors(f.ctx.get(), f.hparams, scratch);
    model_file_info info;
    info.meta = std::move(f.meta);
    info.ctx = std::move(f.ctx);
    info.hparams = f.hparams;
    info.file_bytes = f.file_bytes;
    info.data_offset = f.data_offset;
    return info;
}

// ---------------------------------------------------------------------------------------------------------------
// Placing the weights.

static void report(const load_params& params, float fraction) {
    if (params.progress && !params.progress(fraction)) throw error(error_code::aborted, "model loading was aborted");
}

static uint64_t tensor_offset(const gguf_context* meta, const ggml_tensor* t) {
    return gguf_get_tensor_offset(meta, gguf_find_tensor(meta, t->name));
}

// CPU: the mapped file is the weight buffer, if its layout meets the CPU buffer's alignment.
static bool place_mapped(model& m, const opened_file& f, std::unique_ptr<mapped_file>& mapping) {
    const size_t align = ggml_backend_buft_get_alignment(ggml_backend_cpu_buffer_type());
    uint8_t* base = const_cast<uint8_t*>(mapping->data()) + f.data_offset;
    if (gguf_get_alignment(f.meta.get()) % align != 0 || reinterpret_cast<uintptr_t>(base) % align != 0) return false;
    ggml_backend_buffer_ptr buf(ggml_backend_cpu_buffer_from_ptr(base, f.file_bytes - f.data_offset));
    if (!buf) throw error(error_code::backend, "failed to wrap the mapped model file in a CPU buffer");
    for (ggml_tensor* t = ggml_get_first_tensor(m.ctx.get()); t; t = ggml_get_next_tensor(m.ctx.get(), t)) {
        if (ggml_backend_tensor_alloc(buf.get(), t, base + tensor_offset(f.meta.get(), t)) != GGML_STATUS_SUCCESS) {
            throw error(error_code::backend, "failed to place tensor '" + std::string(t->name) + "'");
        }
    }
    ggml_backend_buffer_set_usage(buf.get(), GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    m.buffers.push_back(std::move(buf));
    m.mapping = std::move(mapping);
    return true;
}

static int seek(FILE* file, uint64_t offset) {
#ifdef _WIN32
    return _fseeki64(file, static_cast<int64_t>(offset), SEEK_SET);  // long is 32-bit there
#else
    return fseeko(file, static_cast<off_t>(offset), SEEK_SET);
#endif
}

// Any device: allocate its buffer and copy tensor by tensor, from the mapping or with plain reads.
static void place_copied(model& m, const opened_file& f, const std::string& path, const mapped_file* mapping,
                         const load_params& params) {
    ggml_backend_t backend = m.backends.main_backend();
    ggml_backend_buffer_ptr buf(
        ggml_backend_alloc_ctx_tensors_from_buft(m.ctx.get(), ggml_backend_get_default_buffer_type(backend)));
    if (!buf) {
        throw error(error_code::backend, "failed to allocate " + std::to_string((f.file_bytes - f.data_offset) >> 20) +
                                             " MiB for the weights on " + ggml_backend_name(backend));
    }
    ggml_backend_buffer_set_usage(buf.get(), GGML_BACKEND_BUFFER_USAGE_WEIGHTS);

    std::unique_ptr<FILE, int (*)(FILE*)> file(mapping ? nullptr : ggml_fopen(path.c_str(), "rb"), &std::fclose);
    if (!mapping && !file) {
        throw error(error_code::model_not_found, std::string("cannot open file: ") + std::strerror(errno));
    }
    std::vector<uint8_t> staging;
    const uint64_t total = f.file_bytes - f.data_offset;
    uint64_t done = 0;
    for (ggml_tensor* t = ggml_get_first_tensor(m.ctx.get()); t; t = ggml_get_next_tensor(m.ctx.get(), t)) {
        const uint64_t offset = f.data_offset + tensor_offset(f.meta.get(), t);
        const size_t bytes = ggml_nbytes(t);
        const uint8_t* src = nullptr;
        if (mapping) {
            src = mapping->data() + offset;
        } else {
            staging.resize(bytes);
            if (seek(file.get(), offset) != 0 || std::fread(staging.data(), 1, bytes, file.get()) != bytes) {
                fail("failed to read the data of tensor '" + std::string(t->name) + "' (file changed while loading?)");
            }
            src = staging.data();
        }
        ggml_backend_tensor_set(t, src, 0, bytes);
        done += bytes;
        report(params, static_cast<float>(static_cast<double>(done) / static_cast<double>(total)));
    }
    m.buffers.push_back(std::move(buf));
}

std::unique_ptr<model> load_model(const std::string& path, const load_params& params) {
    const backend_kind kind = parse_backend_kind(params.backend);
    if (params.n_threads < 0) throw error(error_code::invalid_argument, "n_threads must be >= 0");
    const int n_threads =
        params.n_threads > 0 ? params.n_threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

    opened_file f = open_model_file(path);
    auto m = std::make_unique<model>();
    bind_tensors(f.ctx.get(), f.hparams, *m);
    m->hparams = f.hparams;
    m->vocab = std::move(f.vocab);
    m->ctx = std::move(f.ctx);
    m->backends = init_backends(kind, n_threads);
    report(params, 0.0f);

    std::unique_ptr<mapped_file> mapping = mapped_file::map(path, f.file_bytes);
    if (!(mapping && !m->backends.gpu && place_mapped(*m, f, mapping))) {
        place_copied(*m, f, path, mapping.get(), params);
    }
    encodec_prepare_decoder_matrices(*m);
    report(params, 1.0f);
    return m;
}

}  // namespace mg
