// The EnCodec decoder's convolution weights re-laid out once, at load, as F32 matrices, so that every decoder
// convolution is one matrix product over channel-fastest activations (codec/decoder-conv.h):
//  * Conv1d [kernel, in, out] -> [in * kernel, out], input channel fastest: the rows of the gathered columns.
//  * ConvTranspose1d [kernel, out, in] -> [in, out * kernel'], output channel fastest, kernel' the kernel rounded
//    up to a multiple of the stride with zero taps, so that the overlap-add is a sum of kernel' / stride views.
// When the CPU kernel set convolves directly from the input frames (runtime/cpu-matvec.h: cpu_conv_frames;
// codec/decoder-cpu-ops.h), a CPU decoder's stride-1 Conv1d and undilated ConvTranspose1d get `frames_matrix`
// instead, the output channel fastest:
//  * stride-1 Conv1d: [out, in * kernel], the `matrix` above transposed;
//  * ConvTranspose1d: [out * stride, in * shifts] (shifts = kernel' / stride), the polyphase form: output frame u
//    (samples u * stride + r, r < stride, before trimming) reads input frames u - shifts + 1 .. u, and weight
//    (h * in + i, r * out + o) is tap (shifts - 1 - h) * stride + r from input channel i to output channel o.
// F32 because ggml's F16 matrix product rounds the activations to F16 as well: upcasting F16 weights once keeps
// the activations at full precision and runs ggml's faster F32 dot products (the weights are small: ~46 MiB at
// musicgen-small's size). The LSTM keeps its stored weights: its mat-vecs are bound by reading them.
#pragma once
#include "model/model.h"

namespace mg {

// Fills `matrix` or `frames_matrix` of every decoder convolution, in one buffer on the model's main backend.
// Throws mg::error(backend) when that buffer cannot be allocated.
void encodec_prepare_decoder_matrices(model& m);

// Kernel taps of a ConvTranspose1d's matrix: the kernel rounded up to a multiple of the stride.
int encodec_transposed_taps(const encodec_conv& conv);

// Whether a CPU decoder convolves `conv` directly (then it has a frames_matrix).
bool encodec_direct_conv(const model& m, const encodec_conv& conv);

// Whether the model's decoder convolves any of its convolutions directly (the memory estimate's case).
bool encodec_decoder_convolves_directly(const model& m);

}  // namespace mg
