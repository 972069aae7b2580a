// ggml's log. ggml prints its informational lines ("load_backend: loaded CPU backend from ...") to stderr by
// default, which would break the CLIs' promise to stay quiet in pipes: we print only warnings and errors, or
// everything when MUSICGEN_VERBOSE=1. ggml also reports why it rejected something (a GGUF header, a backend
// library) only through this log: while an ggml_error_capture lives, error lines logged on the same thread are
// collected so our error can say why.
#pragma once
#include <string>

namespace mg {

// Installs our logger (idempotent; every capture installs it too). Called when the addon loads.
void install_ggml_logger();

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
