// See hparams-reader.h.
#include "model/hparams-reader.h"

#include <cmath>
#include <initializer_list>

#include "model/arch.h"

namespace mg {

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

model_hparams read_hparams(const gguf_keys& keys) {
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

tokenizer_vocab read_vocab(const gguf_keys& keys) {
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

}  // namespace mg
