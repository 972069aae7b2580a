// Loads a musicgen GGUF file (docs/gguf-format.md): validates every key and tensor against the
// hyper-parameters it declares, and places the weights on the chosen backend. Any problem with the
// file throws mg::error(model_not_found | model_invalid) naming the key or tensor involved.
#pragma once
#include <ggml-cpp.h>
#include <gguf.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "model/model.h"

namespace mg {

struct load_params {
    std::string backend = "auto";  // "auto" | "cpu" | "cuda" | "metal"
    int n_threads = 0;             // CPU threads; 0 = one per hardware thread
    // The LM's self-attention K/V cache: "auto" (f32 for f32 LM weights, whose runs match the reference to float
    // rounding; f16 otherwise, where the weights' own rounding is larger) | "f32" | "f16".
    std::string kv_cache = "auto";
    // Called with the fraction of weight bytes placed so far; returning false aborts the load
    // with mg::error(aborted).
    std::function<bool(float)> progress;
};

std::unique_ptr<model> load_model(const std::string& path, const load_params& params);

// A model file that passed the same validation as load_model, without its weights: what `inspect` shows.
struct model_file_info {
    gguf_context_ptr meta;  // keys and tensor infos (offsets relative to data_offset)
    ggml_context_ptr ctx;   // the tensors' names, types and dimensions (no data)
    model_hparams hparams;
    uint64_t file_bytes = 0;
    uint64_t data_offset = 0;
};

model_file_info inspect_model(const std::string& path);

}  // namespace mg
