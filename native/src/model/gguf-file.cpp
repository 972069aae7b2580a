// See gguf-file.h.
#include "model/gguf-file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "model/arch.h"
#include "model/gguf-keys.h"
#include "runtime/error.h"
#include "runtime/ggml-log.h"

namespace mg {

std::unique_ptr<mapped_file> mapped_file::map(const std::string& path, uint64_t size) {
#ifdef _WIN32
    return nullptr;
#else
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return nullptr;
    void* addr = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);  // the mapping keeps its own reference to the file
    if (addr == MAP_FAILED) return nullptr;
    return std::unique_ptr<mapped_file>(new mapped_file(addr, size));
#endif
}

mapped_file::~mapped_file() {
#ifndef _WIN32
    ::munmap(addr_, size_);
#endif
}

int seek_file(FILE* file, uint64_t offset, int whence) {
#ifdef _WIN32
    return _fseeki64(file, static_cast<int64_t>(offset), whence);
#else
    return fseeko(file, static_cast<off_t>(offset), whence);
#endif
}

uint64_t tensor_data_offset(const gguf_context* meta, const ggml_tensor* t) {
    return gguf_get_tensor_offset(meta, gguf_find_tensor(meta, t->name));
}

static uint64_t check_readable(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p = fs::u8path(path);
    const fs::file_status st = fs::status(p, ec);
    if (ec || !fs::exists(st)) throw error(error_code::model_not_found, "no such file");
    if (fs::is_directory(st)) throw error(error_code::model_not_found, "is a directory, expected a .gguf file");
    FILE* f = ggml_fopen(path.c_str(), "rb");
    if (!f) throw error(error_code::model_not_found, std::string("cannot open file: ") + std::strerror(errno));
    std::fclose(f);
    const uintmax_t size = fs::file_size(p, ec);
    if (ec) throw error(error_code::model_not_found, "cannot read the file size: " + ec.message());
    return size;
}

// What the pinned ggml's gguf_init_from_file (gguf.cpp) cannot be given safely, checked first by walking the header:
// it checks a tensor's element count with INT64_MAX / ne[j], which divides by zero (SIGFPE) when a dimension is 0,
// it loads value and tensor types from the file straight into enums (undefined behaviour when out of range; also when
// the file ends before a key's value type, which it then tests as its -1 placeholder), and it aborts the process
// (GGML_ASSERT) on an empty key.
// No musicgen tensor is empty. Everything else odd (magic, version, other truncation, sizes) is left to gguf.
class header_walker {
  public:
    header_walker(const std::string& path, uint64_t file_bytes)
        : file_(ggml_fopen(path.c_str(), "rb"), &std::fclose), left_(file_bytes) {}

    bool ok() const { return file_ != nullptr; }

    template <typename T>
    bool read(T* out) {
        if (left_ < sizeof(T) || std::fread(out, sizeof(T), 1, file_.get()) != 1) return false;
        left_ -= sizeof(T);
        return true;
    }

    bool skip(uint64_t bytes) {
        if (bytes > left_ || seek_by(bytes) != 0) return false;
        left_ -= bytes;
        return true;
    }

    bool read_string(std::string* out) {
        uint64_t n;
        if (!read(&n) || n > left_) return false;
        out->resize(static_cast<size_t>(n));
        if (n > 0 && std::fread(out->data(), 1, out->size(), file_.get()) != out->size()) return false;
        left_ -= n;
        return true;
    }

    bool skip_string() {
        uint64_t n;
        return read(&n) && skip(n);
    }

  private:
    int seek_by(uint64_t bytes) { return seek_file(file_.get(), bytes, SEEK_CUR); }

    std::unique_ptr<FILE, int (*)(FILE*)> file_;
    uint64_t left_;
};

static void precheck_gguf_header(const std::string& path, uint64_t file_bytes) {
    header_walker w(path, file_bytes);
    char magic[4];
    uint32_t version;
    int64_t n_tensors, n_kv;
    if (!w.ok() || !w.read(&magic) || std::memcmp(magic, "GGUF", 4) != 0 || !w.read(&version) ||
        (version != 2 && version != 3) || !w.read(&n_tensors) || !w.read(&n_kv) || n_tensors < 0 || n_kv < 0) {
        return;
    }
    const auto scalar_bytes = [](uint32_t type) -> uint64_t {  // 0: not a fixed-size scalar type
        switch (type) {
            case GGUF_TYPE_UINT8:
            case GGUF_TYPE_INT8:
            case GGUF_TYPE_BOOL:
                return 1;
            case GGUF_TYPE_UINT16:
            case GGUF_TYPE_INT16:
                return 2;
            case GGUF_TYPE_UINT32:
            case GGUF_TYPE_INT32:
            case GGUF_TYPE_FLOAT32:
                return 4;
            case GGUF_TYPE_UINT64:
            case GGUF_TYPE_INT64:
            case GGUF_TYPE_FLOAT64:
                return 8;
            default:
                return 0;
        }
    };
    const auto check_type = [](const std::string& key, uint32_t type) {
        if (type >= GGUF_TYPE_COUNT) fail("key '" + key + "' has unknown GGUF value type " + std::to_string(type));
    };
    const auto truncated = [&](int64_t i) {
        fail("not a GGUF file or corrupt header (the file ends inside metadata key " + std::to_string(i) + " of " +
             std::to_string(n_kv) + ")");
    };
    for (int64_t i = 0; i < n_kv; ++i) {
        std::string key;
        uint32_t type = 0;
        if (!w.read_string(&key)) truncated(i);
        if (key.empty()) fail("metadata key " + std::to_string(i) + " is an empty string");  // gguf aborts on it
        if (!w.read(&type)) truncated(i);
        check_type(key, type);
        if (type == GGUF_TYPE_STRING) {
            if (!w.skip_string()) return;
        } else if (type == GGUF_TYPE_ARRAY) {
            uint32_t element;
            uint64_t n;
            if (!w.read(&element)) return;
            check_type(key, element);
            if (!w.read(&n)) return;
            if (element == GGUF_TYPE_STRING) {
                for (uint64_t j = 0; j < n; ++j) {
                    if (!w.skip_string()) return;  // each string takes 8 bytes at least: bounded by the file
                }
            } else {
                const uint64_t size = scalar_bytes(element);
                if (size == 0 || n > UINT64_MAX / size || !w.skip(n * size)) return;
            }
        } else {
            const uint64_t size = scalar_bytes(type);
            if (size == 0 || !w.skip(size)) return;
        }
    }
    for (int64_t i = 0; i < n_tensors; ++i) {
        std::string name;
        uint32_t n_dims;
        if (!w.read_string(&name) || !w.read(&n_dims) || n_dims > GGML_MAX_DIMS) return;
        for (uint32_t j = 0; j < n_dims; ++j) {
            int64_t ne;
            if (!w.read(&ne)) return;
            if (ne == 0) fail("tensor '" + name + "' has a dimension of size 0 (dimension " + std::to_string(j) + ")");
        }
        uint32_t type;
        if (!w.read(&type)) return;
        if (type >= GGML_TYPE_COUNT) fail("tensor '" + name + "' has unknown ggml type " + std::to_string(type));
        uint64_t offset;
        if (!w.read(&offset)) return;
    }
}

gguf_file open_gguf_file(const std::string& path) {
    gguf_file f;
    f.file_bytes = check_readable(path);
    precheck_gguf_header(path, f.file_bytes);
    {
        ggml_error_capture capture;
        ggml_context* ctx = nullptr;
        f.meta.reset(gguf_init_from_file(path.c_str(), {/*no_alloc=*/true, /*ctx=*/&ctx}));
        f.ctx.reset(ctx);
        if (!f.meta) {
            const std::string reason = capture.reason();
            fail("not a GGUF file or corrupt header" + (reason.empty() ? "" : " (" + reason + ")"));
        }
    }
    const gguf_keys keys(f.meta.get());
    if (!keys.has(kv::architecture)) fail("not a musicgen model: key 'general.architecture' is missing");
    const std::string arch = keys.str(kv::architecture);
    if (arch != arch_name) fail("architecture '" + arch + "' is not supported, expected '" + arch_name + "'");

    // Every tensor's bytes must lie inside the file: reading past the end of a mapping would SIGBUS.
    f.data_offset = gguf_get_data_offset(f.meta.get());
    const uint64_t data_bytes = f.file_bytes > f.data_offset ? f.file_bytes - f.data_offset : 0;
    for (int64_t i = 0; i < gguf_get_n_tensors(f.meta.get()); ++i) {
        const uint64_t offset = gguf_get_tensor_offset(f.meta.get(), i);
        const uint64_t end = offset + gguf_get_tensor_size(f.meta.get(), i);
        if (end > data_bytes) {
            fail("tensor '" + std::string(gguf_get_tensor_name(f.meta.get(), i)) + "' data ends at byte " +
                 std::to_string(f.data_offset + end) + " but the file has only " + std::to_string(f.file_bytes) +
                 " bytes (truncated file?)");
        }
    }

    return f;
}

}  // namespace mg
