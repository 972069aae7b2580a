// Hyper-parameters of a MusicGen checkpoint, read from the musicgen.* keys of the GGUF file
// (docs/gguf-format.md). Plain data: the loader fills and validates them, the graph code only reads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mg {

enum class t5_ffn_act {
    relu,        // t5-base: wo(relu(wi(x)))
    gated_gelu,  // t5 v1.1: wo(gelu(wi_0(x)) * wi_1(x))
};

enum class lm_variant {
    text,    // cross-attention to the projected T5 states
    melody,  // chroma + T5 states prepended as a prefix, no cross-attention
};

struct t5_hparams {
    uint32_t n_vocab = 0;  // embedding rows (>= the tokenizer's id range)
    uint32_t n_embd = 0;   // d_model
    uint32_t n_ff = 0;     // d_ff
    uint32_t n_layer = 0;
    uint32_t n_head = 0;
    uint32_t n_head_dim = 0;  // d_kv
    uint32_t n_rel_buckets = 0;
    uint32_t rel_max_distance = 0;
    float eps = 0.0f;
    t5_ffn_act ffn_act = t5_ffn_act::relu;
};

struct lm_hparams {
    lm_variant variant = lm_variant::text;
    uint32_t audio_channels = 0;  // 1 mono, 2 stereo (codebook rows 2q / 2q+1 = left / right quantizer q)
    uint32_t n_codebooks = 0;     // K
    uint32_t codebook_size = 0;   // logits per head; embeddings have one more row (the pad code)
    uint32_t n_embd = 0;          // H
    uint32_t n_ff = 0;
    uint32_t n_layer = 0;
    uint32_t n_head = 0;
    uint32_t max_position = 0;
    float eps = 0.0f;
};

struct codec_hparams {
    uint32_t sample_rate = 0;
    uint32_t hidden_size = 0;  // = codebook_dim
    uint32_t num_filters = 0;
    std::vector<uint32_t> upsampling_ratios;  // decoder order; the encoder walks them reversed
    uint32_t kernel_size = 0;
    uint32_t last_kernel_size = 0;
    uint32_t residual_kernel_size = 0;
    uint32_t num_residual_layers = 0;
    uint32_t dilation_growth_rate = 0;
    uint32_t compress = 0;
    uint32_t num_lstm_layers = 0;
    uint32_t codebook_size = 0;
    uint32_t n_quantizers = 0;
    bool causal = false;
    std::string pad_mode;

    // Audio samples per codec frame: the product of the ratios.
    uint64_t hop_length() const {
        uint64_t hop = 1;
        for (uint32_t r : upsampling_ratios) hop *= r;
        return hop;
    }
    // Channels at the LSTM / innermost convolutions: num_filters doubled once per ratio.
    uint64_t inner_channels() const { return uint64_t{num_filters} << upsampling_ratios.size(); }
};

// Only meaningful for lm_variant::melody.
struct melody_hparams {
    uint32_t num_chroma = 0;
    uint32_t chroma_length = 0;  // prefix rows
    uint32_t n_fft = 0;
    uint32_t hop_length = 0;
    uint32_t chunk_length = 0;  // seconds of audio used at most
};

struct generation_defaults {
    uint32_t max_length = 0;  // LM steps
    float guidance_scale = 0.0f;
    uint32_t pad_token_id = 0;  // also BOS / decoder start
};

struct model_hparams {
    std::string name;
    uint32_t file_type = 0;
    uint32_t sample_rate = 0;
    uint32_t frame_rate = 0;
    t5_hparams t5;
    lm_hparams lm;
    codec_hparams codec;
    melody_hparams melody;
    generation_defaults generation;
};

}  // namespace mg
