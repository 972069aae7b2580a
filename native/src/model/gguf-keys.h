// Typed access to a GGUF file's metadata: a missing key or a value of the wrong type or range is an
// mg::error(model_invalid) naming the key. Used by the hyper-parameter and vocabulary readers.
#pragma once
#include <gguf.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/error.h"

namespace mg {

[[noreturn]] inline void fail(const std::string& message) { throw error(error_code::model_invalid, message); }

class gguf_keys {
  public:
    explicit gguf_keys(const gguf_context* ctx) : ctx_(ctx) {}

    bool has(const char* key) const { return gguf_find_key(ctx_, key) >= 0; }

    uint32_t u32(const char* key) const { return gguf_get_val_u32(ctx_, find(key, GGUF_TYPE_UINT32)); }
    float f32(const char* key) const { return gguf_get_val_f32(ctx_, find(key, GGUF_TYPE_FLOAT32)); }
    bool boolean(const char* key) const { return gguf_get_val_bool(ctx_, find(key, GGUF_TYPE_BOOL)); }
    std::string str(const char* key) const { return gguf_get_val_str(ctx_, find(key, GGUF_TYPE_STRING)); }

    // u32 in [min, max]: bounds keep every size derived from the metadata far from overflow.
    uint32_t u32_in(const char* key, uint32_t min, uint32_t max) const {
        const uint32_t v = u32(key);
        if (v < min || v > max) {
            fail("key '" + std::string(key) + "' is " + std::to_string(v) + ", expected " + std::to_string(min) + ".." +
                 std::to_string(max));
        }
        return v;
    }

    float positive_f32(const char* key) const {
        const float v = f32(key);
        if (!std::isfinite(v) || v <= 0.0f) {
            fail("key '" + std::string(key) + "' is " + std::to_string(v) + ", expected a positive number");
        }
        return v;
    }

    template <typename T>
    std::vector<T> array(const char* key, gguf_type element) const {
        const int64_t id = find_array(key, element);
        const size_t n = gguf_get_arr_n(ctx_, id);
        std::vector<T> out(n);
        if (n > 0) std::memcpy(out.data(), gguf_get_arr_data(ctx_, id), n * sizeof(T));
        return out;
    }

    std::vector<std::string> strings(const char* key) const {
        const int64_t id = find_array(key, GGUF_TYPE_STRING);
        std::vector<std::string> out(gguf_get_arr_n(ctx_, id));
        for (size_t i = 0; i < out.size(); ++i) out[i] = gguf_get_arr_str(ctx_, id, i);
        return out;
    }

  private:
    int64_t find(const char* key, gguf_type type) const {
        const int64_t id = gguf_find_key(ctx_, key);
        if (id < 0) fail("required key '" + std::string(key) + "' is missing");
        const gguf_type got = gguf_get_kv_type(ctx_, id);
        if (got != type) {
            fail("key '" + std::string(key) + "' has type " + describe(id) + ", expected " + gguf_type_name(type));
        }
        return id;
    }

    int64_t find_array(const char* key, gguf_type element) const {
        const int64_t id = gguf_find_key(ctx_, key);
        if (id < 0) fail("required key '" + std::string(key) + "' is missing");
        if (gguf_get_kv_type(ctx_, id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(ctx_, id) != element) {
            fail("key '" + std::string(key) + "' has type " + describe(id) + ", expected array of " +
                 gguf_type_name(element));
        }
        return id;
    }

    std::string describe(int64_t id) const {
        const gguf_type type = gguf_get_kv_type(ctx_, id);
        if (type != GGUF_TYPE_ARRAY) return gguf_type_name(type);
        return std::string("array of ") + gguf_type_name(gguf_get_arr_type(ctx_, id));
    }

    const gguf_context* ctx_;
};

}  // namespace mg
