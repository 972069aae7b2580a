// The floors under the EnCodec decoder (bench/, issue 14): the multiply-adds one second of audio takes, counted from
// the decoder the model file describes (every convolution, transposed convolution and LSTM layer at the rate it runs
// at), which over the CPU's f32 multiply-add peak is the arithmetic floor; and the bytes of LSTM weights each frame
// must read, since its recurrent product is a strict chain of matrix-vector products, one per frame: over the copy
// bandwidth, a second floor that batching frames cannot lower.
#pragma once
#include "model/model.h"

namespace mg {

struct decoder_cost {
    double frame_rate = 0;            // codec frames per audio second (sample rate / hop length)
    double macs_per_second = 0;       // multiply-adds of every product per audio second
    double lstm_macs_per_second = 0;  // ... of which the LSTM's (input and recurrent products)
    // Bytes of the recurrent weights (W_hh of every layer) one frame reads: the sequential part. The input weights
    // (W_ih) are read once per chunk of frames, whose projections are one matrix product.
    double lstm_recurrent_bytes_per_frame = 0;
    double lstm_input_bytes = 0;  // W_ih of every layer
};

// Counts from the model's decoder stages (built from the GGUF's codec hyper-parameters): a Conv1d of kernel k costs
// in * k * out per output frame, a ConvTranspose1d in * k * out per input frame (its true kernel, not the zero taps
// the decoder's matrix pads it to), an LSTM layer 4C * C for each of its two products per frame. The RVQ sum,
// ELUs, residual and skip additions and the cell updates are additions and element-wise functions, not counted.
decoder_cost count_decoder_cost(const model& m);

}  // namespace mg
