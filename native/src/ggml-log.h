// ggml reports why it rejected something (a GGUF header, a backend library) only through its log. While an
// ggml_error_capture lives, error lines logged on the same thread are collected so our error can say why;
// other threads' messages go to whatever logger was installed before.
#pragma once
#include <string>

namespace mg {

class ggml_error_capture {
  public:
    ggml_error_capture();
    ~ggml_error_capture();
    ggml_error_capture(const ggml_error_capture&) = delete;
    ggml_error_capture& operator=(const ggml_error_capture&) = delete;

    // The collected lines joined with "; ", without ggml's "function_name: " prefixes.
    std::string reason() const;

  private:
    std::string text_;
};

}  // namespace mg
