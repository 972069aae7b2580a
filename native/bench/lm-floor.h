// The floor under one LM decoding step (bench/, issue "measured against the memory-bandwidth floor"): a step
// must read every weight matrix it multiplies once, so it can be no faster than those bytes over the memory
// bandwidth, nor than the same matrix products run alone through ggml at the model's format and thread count.
#pragma once
#include <cstddef>
#include <cstdint>

#include "model/model.h"

namespace mg {

struct lm_products_timing {
    double weight_bytes = 0;  // bytes of weight matrices one step reads
    int32_t n_products = 0;   // matrix products per step
    double macs = 0;          // multiply-adds of those products (weights x columns)
    double median_ms = 0;     // one pass over all of them, median of the repetitions
    double min_ms = 0;
};

// Runs exactly the weight products of one guided/unguided decoding step of `n_rows` rows (`n_cond` of them
// conditional, which alone go through cross-attention) on the model's backend: self-attention q/k/v/o, the
// cross-attention q/o (its k/v are computed once per prompt), the feed-forward pair and every codebook head.
// One graph, built once and computed `reps` times after a warm-up.
lm_products_timing time_lm_products(const model& m, int32_t n_rows, int32_t n_cond, int32_t reps);

// Copy bandwidth of this machine: `bytes` copied between two buffers by `n_threads` threads, best of `reps`.
// Returns bytes read + bytes written per second (STREAM's convention for its Copy kernel).
double measure_copy_bandwidth(size_t bytes, int n_threads, int reps);

// The same figure for the memory of the device that holds the model's weights (a GPU's, where the floor is that
// memory's bandwidth): one ggml copy of `bytes` between two f32 tensors in a buffer of that device, computed on its
// backend, best of `reps` after a warm-up; throws when the copied values did not arrive. On the CPU backend it is
// ggml's threaded copy.
double measure_device_copy_bandwidth(const model& m, size_t bytes, int reps);

// The arithmetic peak of this CPU for the best instruction set the matrix-vector kernels have for it (AVX-512 with
// VNNI, else AVX2; whichever kernels are in use): multiply-adds per second on `n_threads` threads, in f32 FMAs (`int8`
// false: what f32 and f16 weights take) or 8-bit dot products (`int8` true: q8_0, q4_K). Independent chains of the
// kernels' own instructions (AVX-512: vfmadd / vpdpbusd on 512 bits; AVX2: vfmadd / vpmaddubsw + vpmaddwd on 256), best
// of `reps`. 0 on CPUs with neither.
double measure_peak_macs(bool int8, int n_threads, int reps);

}  // namespace mg
