// Placing the validated weights on the chosen backend: the CPU uses the mapped file in place when its alignment
// allows, any other device gets its own buffer filled tensor by tensor (from the mapping or with plain reads).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "model/gguf-file.h"
#include "model/model.h"

namespace mg {

// Called with the fraction of weight bytes placed so far; returning false aborts with mg::error(aborted).
using load_progress = std::function<bool(float)>;

// Places the weights of `m` (whose ctx holds the file's tensors) from `f`, taking ownership of `mapping` when the
// CPU backend uses it in place.
void place_weights(model& m, const gguf_file& f, const std::string& path, std::unique_ptr<mapped_file> mapping,
                   const load_progress& progress);

void report_progress(const load_progress& progress, float fraction);

}  // namespace mg
