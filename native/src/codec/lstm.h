// EnCodec's stacked LSTM with its skip connection (docs/reference-notes.md §10.3: PyTorch gate order i, f, g, o,
// both biases, output + input).
//
// Why unrolled ggml graphs: the recurrence is a strict chain of C x 4C mat-vecs (C = 1024 at real size,
// 16 MiB of F32 weights per matrix). On the CPU ggml spreads each mat-vec over all threads; on a GPU the
// weights and the state stay on the device. A plain C++ loop would be single-threaded and would have to pull
// GPU-resident weights to the host. One graph holds as many time steps as the runner's node budget allows
// (about 15 nodes per step and layer); the input projections of a whole chunk are one mat-mat per layer,
// and h/c travel between chunks through encodec_lstm_state, which is exactly what streaming will carry.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "runtime/graph-runner.h"

namespace mg {

// h and c of every layer after the last processed frame; all zeros before the first.
struct encodec_lstm_state {
    std::vector<std::vector<float>> h;  // [layer][C]
    std::vector<std::vector<float>> c;  // [layer][C]
};

encodec_lstm_state encodec_lstm_initial_state(const encodec_lstm& lstm, int64_t channels);

// Replaces x ([frames][channels], channel fastest) by LSTM(x) + x, continuing from `state` and leaving the
// state after the last frame in it. `cpu`: the runner computes on the CPU alone (the cell update is then one
// custom op per step).
void encodec_lstm_forward(graph_runner& runner, const encodec_lstm& lstm, int64_t channels, float* x, int64_t frames,
                          encodec_lstm_state& state, bool cpu);

}  // namespace mg
