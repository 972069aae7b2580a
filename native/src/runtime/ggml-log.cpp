// ggml's log routed to our quiet policy (see ggml-log.h).
#include "runtime/ggml-log.h"

#include <ggml.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace mg {

static thread_local std::string* log_sink = nullptr;
// GGML_LOG_LEVEL_CONT continues the previous line of the same thread at that line's level.
static thread_local ggml_log_level last_level = GGML_LOG_LEVEL_INFO;
static bool verbose = false;

static void route_log(ggml_log_level level, const char* text, void* user_data) {
    if (level == GGML_LOG_LEVEL_CONT) level = last_level;
    last_level = level;
    if (log_sink) {
        if (level == GGML_LOG_LEVEL_ERROR) log_sink->append(text);
    } else if (verbose || level >= GGML_LOG_LEVEL_WARN) {
        std::fputs(text, stderr);
    }
}

void install_ggml_logger() {
    static std::once_flag installed;
    std::call_once(installed, [] {
        const char* env = std::getenv("MUSICGEN_VERBOSE");
        verbose = env && std::strcmp(env, "0") != 0 && env[0] != '\0';
        ggml_log_set(route_log, nullptr);
    });
}

ggml_error_capture::ggml_error_capture() {
    install_ggml_logger();
    log_sink = &text_;
}

ggml_error_capture::~ggml_error_capture() { log_sink = nullptr; }

// "gguf_init_from_file_impl: invalid magic characters" -> "invalid magic characters".
static std::string without_function_prefix(const std::string& line) {
    const size_t colon = line.find(": ");
    if (colon == std::string::npos || colon == 0) return line;
    for (size_t i = 0; i < colon; ++i) {
        const unsigned char c = static_cast<unsigned char>(line[i]);
        if (!std::isalnum(c) && c != '_') return line;
    }
    return line.substr(colon + 2);
}

std::string ggml_error_capture::reason() const {
    std::string out;
    size_t start = 0;
    while (start < text_.size()) {
        size_t end = text_.find('\n', start);
        if (end == std::string::npos) end = text_.size();
        const std::string line = without_function_prefix(text_.substr(start, end - start));
        if (!line.empty()) out += (out.empty() ? "" : "; ") + line;
        start = end + 1;
    }
    return out;
}

}  // namespace mg
