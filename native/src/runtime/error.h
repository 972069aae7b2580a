// Errors of the C++ core. Every failure that outside data can cause is an mg::error carrying a
// stable code (mapped 1:1 to the JS error codes) and a message naming the file/tensor/option involved.
#pragma once
#include <stdexcept>
#include <string>

namespace mg {

enum class error_code {
    model_invalid,     // ERR_MUSICGEN_MODEL_INVALID: a model file failed validation
    model_not_found,   // ERR_MUSICGEN_MODEL_NOT_FOUND: the file does not exist or cannot be opened
    invalid_argument,  // ERR_MUSICGEN_INVALID_OPTION: a request the model cannot serve
    aborted,           // ERR_MUSICGEN_ABORTED: cancelled by the caller
    backend,           // ERR_MUSICGEN_BACKEND: ggml could not allocate or compute
};

const char* error_code_name(error_code code);

class error : public std::runtime_error {
  public:
    error(error_code code, const std::string& message) : std::runtime_error(message), code_(code) {}
    error_code code() const { return code_; }

  private:
    error_code code_;
};

}  // namespace mg
