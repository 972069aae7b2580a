// See weight-binding.h.
#include "model/weight-binding.h"

#include "model/arch.h"
#include "model/tensor-table.h"

namespace mg {

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

void bind_tensors(ggml_context* ctx, const model_hparams& hp, model& m) {
    tensor_table tt(ctx);
    m.t5 = bind_t5(tt, hp.t5);
    m.cond = bind_cond(tt, hp);
    m.lm = bind_lm(tt, hp.lm);
    m.codec = bind_codec(tt, hp.codec);
    tt.reject_unused();
}

}  // namespace mg
