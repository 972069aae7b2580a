// The EnCodec decoder's cost per audio second (see decoder-floor.h).
#include "decoder-floor.h"

#include <ggml.h>

namespace mg {

// Multiply-adds of one Conv1d per output frame, or of one ConvTranspose1d per input frame: in * kernel * out, its
// weight's size (whatever layout the decoder multiplies it in, model/codec-matrices.h).
static double conv_macs(const encodec_conv& conv) { return static_cast<double>(ggml_nelements(conv.weight)); }

decoder_cost count_decoder_cost(const model& m) {
    decoder_cost cost;
    cost.frame_rate =
        static_cast<double>(m.hparams.codec.sample_rate) / static_cast<double>(m.hparams.codec.hop_length());
    double rate = cost.frame_rate;  // frames per audio second at the current stage's input
    for (const encodec_stage& stage : m.codec.decoder) {
        switch (stage.kind) {
            case encodec_stage_kind::conv:
                if (stage.conv.transposed) {
                    cost.macs_per_second += conv_macs(stage.conv) * rate;
                    rate *= stage.conv.stride;
                } else {
                    rate /= stage.conv.stride;
                    cost.macs_per_second += conv_macs(stage.conv) * rate;
                }
                break;
            case encodec_stage_kind::resblock:  // stride 1: both convolutions at the stage's rate
                cost.macs_per_second += (conv_macs(stage.res.conv1) + conv_macs(stage.res.conv2)) * rate;
                break;
            case encodec_stage_kind::lstm:
                for (const encodec_lstm_layer& layer : stage.lstm.layers) {
                    const double per_frame =
                        static_cast<double>(ggml_nelements(layer.w_ih) + ggml_nelements(layer.w_hh));
                    cost.lstm_macs_per_second += per_frame * rate;
                    cost.lstm_recurrent_bytes_per_frame += static_cast<double>(ggml_nbytes(layer.w_hh));
                    cost.lstm_input_bytes += static_cast<double>(ggml_nbytes(layer.w_ih));
                }
                break;
            case encodec_stage_kind::elu:
                break;
        }
    }
    cost.macs_per_second += cost.lstm_macs_per_second;
    return cost;
}

}  // namespace mg
