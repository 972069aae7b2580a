// A loaded MusicGen checkpoint: one struct per component holding its weights by meaningful names
// (each commented with the Hugging Face tensor it came from), plus everything that owns memory.
// Tensor dimensions are in ggml order (docs/gguf-format.md); optional tensors are nullptr when absent.
#pragma once
#include <ggml-cpp.h>
#include <ggml.h>

#include <memory>
#include <mutex>
#include <vector>

#include "model/hparams.h"
#include "runtime/backend.h"
#include "tokenizer/tokenizer.h"

namespace mg {

struct t5_layer {
    ggml_tensor* attn_norm = nullptr;  // block.{l}.layer.0.layer_norm.weight
    ggml_tensor* attn_q = nullptr;     // block.{l}.layer.0.SelfAttention.q.weight
    ggml_tensor* attn_k = nullptr;     // block.{l}.layer.0.SelfAttention.k.weight
    ggml_tensor* attn_v = nullptr;     // block.{l}.layer.0.SelfAttention.v.weight
    ggml_tensor* attn_o = nullptr;     // block.{l}.layer.0.SelfAttention.o.weight
    ggml_tensor* ffn_norm = nullptr;   // block.{l}.layer.1.layer_norm.weight
    ggml_tensor* ffn_up = nullptr;     // block.{l}.layer.1.DenseReluDense.wi.weight (wi_1 when gated)
    ggml_tensor* ffn_gate = nullptr;   // block.{l}.layer.1.DenseReluDense.wi_0.weight (gated-gelu only)
    ggml_tensor* ffn_down = nullptr;   // block.{l}.layer.1.DenseReluDense.wo.weight
};

struct t5_encoder {
    ggml_tensor* token_embd = nullptr;   // text_encoder.shared.weight
    ggml_tensor* rel_bias = nullptr;     // block.0.layer.0.SelfAttention.relative_attention_bias.weight
    std::vector<t5_layer> layers;        // text_encoder.encoder.block.{l}
    ggml_tensor* output_norm = nullptr;  // text_encoder.encoder.final_layer_norm.weight
};

// Projections of the conditioning signals to the LM width (absent when the widths already agree).
struct cond_proj {
    ggml_tensor* text_proj_w = nullptr;    // enc_to_dec_proj.weight
    ggml_tensor* text_proj_b = nullptr;    // enc_to_dec_proj.bias
    ggml_tensor* chroma_proj_w = nullptr;  // audio_enc_to_dec_proj.weight (melody)
    ggml_tensor* chroma_proj_b = nullptr;  // audio_enc_to_dec_proj.bias (melody)
};

struct lm_layer {
    ggml_tensor* attn_norm_w = nullptr;        // layers.{l}.self_attn_layer_norm.weight
    ggml_tensor* attn_norm_b = nullptr;        // layers.{l}.self_attn_layer_norm.bias
    ggml_tensor* attn_q = nullptr;             // layers.{l}.self_attn.q_proj.weight
    ggml_tensor* attn_k = nullptr;             // layers.{l}.self_attn.k_proj.weight
    ggml_tensor* attn_v = nullptr;             // layers.{l}.self_attn.v_proj.weight
    ggml_tensor* attn_o = nullptr;             // layers.{l}.self_attn.out_proj.weight
    ggml_tensor* cross_attn_norm_w = nullptr;  // layers.{l}.encoder_attn_layer_norm.weight (text variant)
    ggml_tensor* cross_attn_norm_b = nullptr;  // layers.{l}.encoder_attn_layer_norm.bias (text variant)
    ggml_tensor* cross_attn_q = nullptr;       // layers.{l}.encoder_attn.q_proj.weight (text variant)
    ggml_tensor* cross_attn_k = nullptr;       // layers.{l}.encoder_attn.k_proj.weight (text variant)
    ggml_tensor* cross_attn_v = nullptr;       // layers.{l}.encoder_attn.v_proj.weight (text variant)
    ggml_tensor* cross_attn_o = nullptr;       // layers.{l}.encoder_attn.out_proj.weight (text variant)
    ggml_tensor* ffn_norm_w = nullptr;         // layers.{l}.final_layer_norm.weight
    ggml_tensor* ffn_norm_b = nullptr;         // layers.{l}.final_layer_norm.bias
    ggml_tensor* ffn_up = nullptr;             // layers.{l}.fc1.weight
    ggml_tensor* ffn_down = nullptr;           // layers.{l}.fc2.weight
};

// HF names below are relative to decoder.model.decoder. unless noted.
struct musicgen_lm {
    std::vector<ggml_tensor*> tok_embd;    // embed_tokens.{k}.weight, one per codebook
    ggml_tensor* pos_embd = nullptr;       // embed_positions.weights (stored sinusoidal table)
    std::vector<lm_layer> layers;          // layers.{l}
    ggml_tensor* output_norm_w = nullptr;  // layer_norm.weight
    ggml_tensor* output_norm_b = nullptr;  // layer_norm.bias
    std::vector<ggml_tensor*> output;      // decoder.lm_heads.{k}.weight, one per codebook
};

// A convolution with weight norm folded in. weight: Conv1d [kernel, in, out], ConvTranspose1d [kernel, out, in].
struct encodec_conv {
    ggml_tensor* weight = nullptr;  // {encoder,decoder}.layers.{i}.conv (or block.{j}.conv) weight_g/weight_v
    ggml_tensor* bias = nullptr;    // ... .conv.bias, [out]
    // Decoder only, one of the two (model/codec-matrices.h): `weight` as an F32 matrix product operand, or for a
    // direct convolution on the CPU as the matrix its frames are multiplied with.
    ggml_tensor* matrix = nullptr;
    ggml_tensor* frames_matrix = nullptr;
    int kernel = 0;
    int stride = 1;
    int dilation = 1;
    bool transposed = false;
};

struct encodec_lstm_layer {
    ggml_tensor* w_ih = nullptr;  // lstm.weight_ih_l{n}, [C, 4C], gates i, f, g, o
    ggml_tensor* w_hh = nullptr;  // lstm.weight_hh_l{n}, [C, 4C]
    ggml_tensor* b_ih = nullptr;  // lstm.bias_ih_l{n}, [4C]
    ggml_tensor* b_hh = nullptr;  // lstm.bias_hh_l{n}, [4C]
};

// Stacked LSTM whose output is added to its input (skip connection).
struct encodec_lstm {
    std::vector<encodec_lstm_layer> layers;
};

// x + conv2(ELU(conv1(ELU(x)))), identity shortcut.
struct encodec_resblock {
    encodec_conv conv1;  // block.1: dim -> dim / compress, residual kernel, dilated
    encodec_conv conv2;  // block.3: dim / compress -> dim, kernel 1
};

enum class encodec_stage_kind { conv, lstm, elu, resblock };

// One entry of HF's SEANet `layers` list; only the member matching `kind` is filled.
struct encodec_stage {
    encodec_stage_kind kind = encodec_stage_kind::elu;
    int index = 0;  // position in {encoder,decoder}.layers (names the stage in goldens and tensor names)
    encodec_conv conv;
    encodec_lstm lstm;
    encodec_resblock res;
};

struct encodec {
    std::vector<ggml_tensor*> rvq;       // quantizer.layers.{q}.codebook.embed, [hidden, codebook_size]
    std::vector<encodec_stage> encoder;  // audio -> embeddings, in execution order
    std::vector<encodec_stage> decoder;  // embeddings -> audio, in execution order
    ggml_context_ptr matrices_ctx;       // the decoder convolutions' `matrix` tensors (metadata)
    ggml_backend_buffer_ptr matrices;    // ... and their memory
};

// Keeps the model file mapped while the CPU backend reads weights straight from it.
class mapped_file;
// Idle EnCodec decoder workspaces (codec/workspace.h).
class encodec_workspace_pool;

struct model {
    model();
    ~model();
    model(const model&) = delete;
    model& operator=(const model&) = delete;

    model_hparams hparams;
    std::unique_ptr<tokenizer> vocab;

    // Declared before the weights' context and buffers so it is released after them (reverse order).
    std::unique_ptr<mapped_file> mapping;
    backend_set backends;
    ggml_context_ptr ctx;                          // tensor metadata (no data)
    std::vector<ggml_backend_buffer_ptr> buffers;  // the weights' memory

    t5_encoder t5;
    cond_proj cond;
    musicgen_lm lm;
    encodec codec;

    // Element type of the LM's self-attention K/V cache (load_params::kv_cache): F32 or F16.
    ggml_type lm_cache_type = GGML_TYPE_F32;

    // Idle EnCodec decoder workspaces, made by the first decode that asks for one (codec/workspace.h). Declared
    // last: they hold graph runners on this model's backends, and go first.
    mutable std::once_flag codec_workspaces_made;
    mutable std::shared_ptr<encodec_workspace_pool> codec_workspaces;
};

}  // namespace mg
