// See tensor-table.h.
#include "model/tensor-table.h"

#include <algorithm>
#include <vector>

#include "model/gguf-keys.h"

namespace mg {

static bool allowed(role r, ggml_type type) {
    switch (r) {
        case role::matrix:
            return type == GGML_TYPE_F32 || type == GGML_TYPE_F16 || type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0 ||
                   type == GGML_TYPE_Q4_K;
        case role::f32:
            return type == GGML_TYPE_F32;
        case role::conv:
            return type == GGML_TYPE_F32 || type == GGML_TYPE_F16;
    }
    return false;
}

static const char* allowed_list(role r) {
    switch (r) {
        case role::matrix:
            return "one of f32, f16, q8_0, q4_0, q4_K";
        case role::f32:
            return "f32";
        case role::conv:
            return "f32 or f16";
    }
    return "";
}

static std::string shape_string(const int64_t* ne, size_t n) {
    std::string s = "[";
    for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
}

ggml_tensor* tensor_table::get(const std::string& name, std::initializer_list<int64_t> dims, role r, bool required) {
    ggml_tensor* t = ggml_get_tensor(ctx_, name.c_str());
    const std::vector<int64_t> want(dims);
    if (!t) {
        if (required) {
            fail("missing tensor '" + name + "' (expected shape " + shape_string(want.data(), want.size()) + ")");
        }
        return nullptr;
    }
    bool same = true;
    for (int i = 0; i < GGML_MAX_DIMS; ++i) {
        same = same && t->ne[i] == (i < static_cast<int>(want.size()) ? want[i] : 1);
    }
    if (!same) {
        const size_t shown = std::max(want.size(), static_cast<size_t>(ggml_n_dims(t)));
        fail("tensor '" + name + "' has shape " + shape_string(t->ne, shown) + ", expected " +
             shape_string(want.data(), want.size()));
    }
    if (!allowed(r, t->type)) {
        fail("tensor '" + name + "' has type " + ggml_type_name(t->type) + ", expected " + allowed_list(r));
    }
    used_.insert(t);
    return t;
}

void tensor_table::reject_unused() const {
    for (ggml_tensor* t = ggml_get_first_tensor(ctx_); t; t = ggml_get_next_tensor(ctx_, t)) {
        if (!used_.count(t)) {
            fail("unexpected tensor '" + std::string(t->name) +
                 "': not part of the musicgen format for this file's hyper-parameters");
        }
    }
}

}  // namespace mg
