// Tensors of a musicgen file looked up by name, each with the dimensions the hyper-parameters imply and a type its
// role allows; what is never looked up is rejected. Errors name the tensor, expected vs got.
#pragma once
#include <ggml.h>

#include <initializer_list>
#include <string>
#include <unordered_set>

namespace mg {

enum class role {
    matrix,  // matrix multiplications and embedding lookups: float or ggml's quantised formats
    f32,     // norms, biases, tables and small projections: always F32
    conv,    // EnCodec convolutions and LSTMs: ggml's convolutions take F16/F32 kernels only
};

class tensor_table {
  public:
    explicit tensor_table(ggml_context* ctx) : ctx_(ctx) {}

    // The tensor `name` with dimensions `dims` (ggml order) and a type `r` allows; nullptr when absent and not
    // required.
    ggml_tensor* get(const std::string& name, std::initializer_list<int64_t> dims, role r, bool required = true);

    // Anything the format does not define for these hyper-parameters means the file and the metadata
    // disagree (e.g. cross-attention weights in a melody model): rejected rather than silently ignored.
    void reject_unused() const;

  private:
    ggml_context* ctx_;
    std::unordered_set<const ggml_tensor*> used_;
};

}  // namespace mg
