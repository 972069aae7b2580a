// The musicgen GGUF format's key and tensor names (see arch.h): the one place the strings live.
#include "model/arch.h"

#include <cstdio>

namespace mg {

static const char* stem(tn id) {
    switch (id) {
        case tn::t5_token_embd:
            return "t5.token_embd";
        case tn::t5_rel_bias:
            return "t5.rel_bias";
        case tn::t5_attn_norm:
            return "t5.blk.%d.attn_norm";
        case tn::t5_attn_q:
            return "t5.blk.%d.attn_q";
        case tn::t5_attn_k:
            return "t5.blk.%d.attn_k";
        case tn::t5_attn_v:
            return "t5.blk.%d.attn_v";
        case tn::t5_attn_o:
            return "t5.blk.%d.attn_o";
        case tn::t5_ffn_norm:
            return "t5.blk.%d.ffn_norm";
        case tn::t5_ffn_up:
            return "t5.blk.%d.ffn_up";
        case tn::t5_ffn_gate:
            return "t5.blk.%d.ffn_gate";
        case tn::t5_ffn_down:
            return "t5.blk.%d.ffn_down";
        case tn::t5_output_norm:
            return "t5.output_norm";
        case tn::cond_text_proj:
            return "cond.text_proj";
        case tn::cond_chroma_proj:
            return "cond.chroma_proj";
        case tn::lm_tok_embd:
            return "lm.tok_embd.%d";
        case tn::lm_pos_embd:
            return "lm.pos_embd";
        case tn::lm_attn_norm:
            return "lm.blk.%d.attn_norm";
        case tn::lm_attn_q:
            return "lm.blk.%d.attn_q";
        case tn::lm_attn_k:
            return "lm.blk.%d.attn_k";
        case tn::lm_attn_v:
            return "lm.blk.%d.attn_v";
        case tn::lm_attn_o:
            return "lm.blk.%d.attn_o";
        case tn::lm_cross_attn_norm:
            return "lm.blk.%d.cross_attn_norm";
        case tn::lm_cross_attn_q:
            return "lm.blk.%d.cross_attn_q";
        case tn::lm_cross_attn_k:
            return "lm.blk.%d.cross_attn_k";
        case tn::lm_cross_attn_v:
            return "lm.blk.%d.cross_attn_v";
        case tn::lm_cross_attn_o:
            return "lm.blk.%d.cross_attn_o";
        case tn::lm_ffn_norm:
            return "lm.blk.%d.ffn_norm";
        case tn::lm_ffn_up:
            return "lm.blk.%d.ffn_up";
        case tn::lm_ffn_down:
            return "lm.blk.%d.ffn_down";
        case tn::lm_output_norm:
            return "lm.output_norm";
        case tn::lm_output:
            return "lm.output.%d";
        case tn::codec_rvq:
            return "codec.rvq.%d";
        case tn::codec_dec_conv:
            return "codec.dec.%d.conv";
        case tn::codec_dec_res:
            return "codec.dec.%d.res.%d";
        case tn::codec_dec_lstm:
            return "codec.dec.%d.lstm.%d";
        case tn::codec_enc_conv:
            return "codec.enc.%d.conv";
        case tn::codec_enc_res:
            return "codec.enc.%d.res.%d";
        case tn::codec_enc_lstm:
            return "codec.enc.%d.lstm.%d";
    }
    return "";
}

std::string tensor_name(tn id, const char* suffix, int a, int b) {
    char buf[128];
    // Stems take 0, 1 or 2 indices; printf ignores the arguments a stem does not use.
    std::snprintf(buf, sizeof(buf), stem(id), a, b);
    return std::string(buf) + "." + suffix;
}

}  // namespace mg
