// Names in the musicgen GGUF format (docs/gguf-format.md): metadata keys and tensor names.
// Every string the loader looks up comes from here, so the format has one place in the code.
#pragma once
#include <string>

namespace mg {

constexpr const char* arch_name = "musicgen";

namespace kv {
constexpr const char* architecture = "general.architecture";
constexpr const char* name = "general.name";
constexpr const char* file_type = "general.file_type";
constexpr const char* quantization_version = "general.quantization_version";

constexpr const char* variant = "musicgen.variant";
constexpr const char* audio_channels = "musicgen.audio_channels";
constexpr const char* sample_rate = "musicgen.sample_rate";
constexpr const char* frame_rate = "musicgen.frame_rate";

constexpr const char* gen_max_length = "musicgen.generation.max_length";
constexpr const char* gen_guidance_scale = "musicgen.generation.guidance_scale";
constexpr const char* gen_pad_token_id = "musicgen.generation.pad_token_id";

constexpr const char* t5_vocab_size = "musicgen.t5.vocab_size";
constexpr const char* t5_embedding_length = "musicgen.t5.embedding_length";
constexpr const char* t5_feed_forward_length = "musicgen.t5.feed_forward_length";
constexpr const char* t5_block_count = "musicgen.t5.block_count";
constexpr const char* t5_head_count = "musicgen.t5.head_count";
constexpr const char* t5_key_length = "musicgen.t5.key_length";
constexpr const char* t5_relative_buckets = "musicgen.t5.relative_buckets";
constexpr const char* t5_relative_max_distance = "musicgen.t5.relative_max_distance";
constexpr const char* t5_layer_norm_epsilon = "musicgen.t5.layer_norm_epsilon";
constexpr const char* t5_feed_forward_act = "musicgen.t5.feed_forward_act";

constexpr const char* melody_num_chroma = "musicgen.melody.num_chroma";
constexpr const char* melody_chroma_length = "musicgen.melody.chroma_length";
constexpr const char* melody_n_fft = "musicgen.melody.n_fft";
constexpr const char* melody_hop_length = "musicgen.melody.hop_length";
constexpr const char* melody_chunk_length = "musicgen.melody.chunk_length";

constexpr const char* lm_codebook_count = "musicgen.lm.codebook_count";
constexpr const char* lm_codebook_size = "musicgen.lm.codebook_size";
constexpr const char* lm_embedding_length = "musicgen.lm.embedding_length";
constexpr const char* lm_feed_forward_length = "musicgen.lm.feed_forward_length";
constexpr const char* lm_block_count = "musicgen.lm.block_count";
constexpr const char* lm_head_count = "musicgen.lm.head_count";
constexpr const char* lm_max_position = "musicgen.lm.max_position";
constexpr const char* lm_layer_norm_epsilon = "musicgen.lm.layer_norm_epsilon";

constexpr const char* codec_sample_rate = "musicgen.codec.sample_rate";
constexpr const char* codec_hidden_size = "musicgen.codec.hidden_size";
constexpr const char* codec_num_filters = "musicgen.codec.num_filters";
constexpr const char* codec_upsampling_ratios = "musicgen.codec.upsampling_ratios";
constexpr const char* codec_kernel_size = "musicgen.codec.kernel_size";
constexpr const char* codec_last_kernel_size = "musicgen.codec.last_kernel_size";
constexpr const char* codec_residual_kernel_size = "musicgen.codec.residual_kernel_size";
constexpr const char* codec_num_residual_layers = "musicgen.codec.num_residual_layers";
constexpr const char* codec_dilation_growth_rate = "musicgen.codec.dilation_growth_rate";
constexpr const char* codec_compress = "musicgen.codec.compress";
constexpr const char* codec_num_lstm_layers = "musicgen.codec.num_lstm_layers";
constexpr const char* codec_codebook_size = "musicgen.codec.codebook_size";
constexpr const char* codec_quantizer_count = "musicgen.codec.quantizer_count";
constexpr const char* codec_causal = "musicgen.codec.causal";
constexpr const char* codec_pad_mode = "musicgen.codec.pad_mode";

constexpr const char* tok_model = "tokenizer.ggml.model";
constexpr const char* tok_tokens = "tokenizer.ggml.tokens";
constexpr const char* tok_scores = "tokenizer.ggml.scores";
constexpr const char* tok_token_type = "tokenizer.ggml.token_type";
constexpr const char* tok_charsmap = "tokenizer.ggml.precompiled_charsmap";
constexpr const char* tok_add_space_prefix = "tokenizer.ggml.add_space_prefix";
constexpr const char* tok_remove_extra_whitespaces = "tokenizer.ggml.remove_extra_whitespaces";
constexpr const char* tok_escape_whitespaces = "tokenizer.ggml.escape_whitespaces";
constexpr const char* tok_eos_id = "tokenizer.ggml.eos_token_id";
constexpr const char* tok_unknown_id = "tokenizer.ggml.unknown_token_id";
constexpr const char* tok_padding_id = "tokenizer.ggml.padding_token_id";
constexpr const char* tok_extra_ids = "tokenizer.ggml.extra_ids";
}  // namespace kv

// Tensor name stems; `{}` in the comments are the integer arguments of tensor_name, in order.
enum class tn {
    t5_token_embd,       // t5.token_embd
    t5_rel_bias,         // t5.rel_bias
    t5_attn_norm,        // t5.blk.{l}.attn_norm
    t5_attn_q,           // t5.blk.{l}.attn_q
    t5_attn_k,           // t5.blk.{l}.attn_k
    t5_attn_v,           // t5.blk.{l}.attn_v
    t5_attn_o,           // t5.blk.{l}.attn_o
    t5_ffn_norm,         // t5.blk.{l}.ffn_norm
    t5_ffn_up,           // t5.blk.{l}.ffn_up
    t5_ffn_gate,         // t5.blk.{l}.ffn_gate
    t5_ffn_down,         // t5.blk.{l}.ffn_down
    t5_output_norm,      // t5.output_norm
    cond_text_proj,      // cond.text_proj
    cond_chroma_proj,    // cond.chroma_proj
    lm_tok_embd,         // lm.tok_embd.{k}
    lm_pos_embd,         // lm.pos_embd
    lm_attn_norm,        // lm.blk.{l}.attn_norm
    lm_attn_q,           // lm.blk.{l}.attn_q
    lm_attn_k,           // lm.blk.{l}.attn_k
    lm_attn_v,           // lm.blk.{l}.attn_v
    lm_attn_o,           // lm.blk.{l}.attn_o
    lm_cross_attn_norm,  // lm.blk.{l}.cross_attn_norm
    lm_cross_attn_q,     // lm.blk.{l}.cross_attn_q
    lm_cross_attn_k,     // lm.blk.{l}.cross_attn_k
    lm_cross_attn_v,     // lm.blk.{l}.cross_attn_v
    lm_cross_attn_o,     // lm.blk.{l}.cross_attn_o
    lm_ffn_norm,         // lm.blk.{l}.ffn_norm
    lm_ffn_up,           // lm.blk.{l}.ffn_up
    lm_ffn_down,         // lm.blk.{l}.ffn_down
    lm_output_norm,      // lm.output_norm
    lm_output,           // lm.output.{k}
    codec_rvq,           // codec.rvq.{q}
    codec_dec_conv,      // codec.dec.{i}.conv
    codec_dec_res,       // codec.dec.{i}.res.{j}
    codec_dec_lstm,      // codec.dec.{i}.lstm.{n}
    codec_enc_conv,      // codec.enc.{i}.conv
    codec_enc_res,       // codec.enc.{i}.res.{j}
    codec_enc_lstm,      // codec.enc.{i}.lstm.{n}
};

// Full tensor name: the stem of `id` with its indices filled in, then "." + suffix
// ("weight", "bias", "codebook", "w_ih", ...).
std::string tensor_name(tn id, const char* suffix, int a = -1, int b = -1);

}  // namespace mg
