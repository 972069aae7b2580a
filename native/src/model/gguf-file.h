// Opening a GGUF file safely: existence and size, a pre-walk of the header for what the pinned ggml's gguf
// reader cannot be given, gguf's own parse, the architecture key and every tensor's bytes inside the file; and the
// read-only mapping the CPU backend uses as its weight buffer. Failures throw mg::error(model_not_found |
// model_invalid) naming the key or tensor involved.
#pragma once
#include <ggml-cpp.h>
#include <gguf.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

namespace mg {

// The file mapped read-only: the CPU backend uses the mapped weights in place (zero copy, pages shared with the OS
// cache).
class mapped_file {
  public:
    // nullptr where the platform or file system cannot map the file; the loader then reads it instead.
    static std::unique_ptr<mapped_file> map(const std::string& path, uint64_t size);
    ~mapped_file();
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;

    const uint8_t* data() const { return static_cast<const uint8_t*>(addr_); }

  private:
    mapped_file(void* addr, uint64_t size) : addr_(addr), size_(size) {}
    void* addr_;
    uint64_t size_;
};

// A validated GGUF header of a musicgen file: keys and tensor infos, no tensor data.
struct gguf_file {
    gguf_context_ptr meta;
    ggml_context_ptr ctx;  // the tensors' names, types and dimensions (no data)
    uint64_t file_bytes = 0;
    uint64_t data_offset = 0;
};

gguf_file open_gguf_file(const std::string& path);

// fseek to an absolute 64-bit offset (fseeko / _fseeki64: long is 32-bit on Windows); 0 on success.
int seek_file(FILE* file, uint64_t offset, int whence);

// Byte offset of tensor `t`'s data relative to the data section.
uint64_t tensor_data_offset(const gguf_context* meta, const ggml_tensor* t);

}  // namespace mg
