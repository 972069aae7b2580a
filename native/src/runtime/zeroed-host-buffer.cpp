// Zero-filled CPU buffers that are paid for as they are written (see zeroed-host-buffer.h).
#include "runtime/zeroed-host-buffer.h"

#include <ggml-alloc.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define MG_ANONYMOUS_MAPPINGS 1
#endif

namespace mg {

namespace {

constexpr size_t huge_page = size_t{2} << 20;

// Zeroed memory of `bytes` starting at a huge-page boundary; `base`/`mapped` say what to release.
void* map_zeroed(size_t bytes, void*& base, size_t& mapped) {
#ifdef MG_ANONYMOUS_MAPPINGS
    mapped = bytes + huge_page;
    base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        base = nullptr;
        return nullptr;
    }
    const uintptr_t start = (reinterpret_cast<uintptr_t>(base) + huge_page - 1) & ~(uintptr_t{huge_page} - 1);
#ifdef MADV_HUGEPAGE
    madvise(reinterpret_cast<void*>(start), bytes, MADV_HUGEPAGE);  // advice only: 4 KiB pages if refused
#endif
    return reinterpret_cast<void*>(start);
#else
    // No anonymous mappings: calloc (zeroed; lazily where the C library maps large blocks).
    mapped = bytes + huge_page;
    base = std::calloc(1, mapped);
    if (!base) return nullptr;
    const uintptr_t start = (reinterpret_cast<uintptr_t>(base) + huge_page - 1) & ~(uintptr_t{huge_page} - 1);
    return reinterpret_cast<void*>(start);
#endif
}

void release(void* base, size_t mapped) {
    if (!base) return;
#ifdef MG_ANONYMOUS_MAPPINGS
    munmap(base, mapped);
#else
    (void)mapped;
    std::free(base);
#endif
}

}  // namespace

zeroed_host_buffer::zeroed_host_buffer(zeroed_host_buffer&& other) noexcept
    : mapping(std::exchange(other.mapping, nullptr)), mapped_bytes(std::exchange(other.mapped_bytes, 0)) {}

zeroed_host_buffer& zeroed_host_buffer::operator=(zeroed_host_buffer&& other) noexcept {
    if (this != &other) {
        release(mapping, mapped_bytes);
        mapping = std::exchange(other.mapping, nullptr);
        mapped_bytes = std::exchange(other.mapped_bytes, 0);
    }
    return *this;
}

zeroed_host_buffer::~zeroed_host_buffer() { release(mapping, mapped_bytes); }

ggml_backend_buffer_t alloc_zeroed_cpu_tensors(ggml_context* ctx, zeroed_host_buffer& memory) {
    ggml_backend_buffer_type_t buft = ggml_backend_cpu_buffer_type();
    const size_t align = ggml_backend_buft_get_alignment(buft);
    size_t bytes = 0;
    for (ggml_tensor* t = ggml_get_first_tensor(ctx); t; t = ggml_get_next_tensor(ctx, t)) {
        bytes += GGML_PAD(ggml_backend_buft_get_alloc_size(buft, t), align);
    }
    if (bytes == 0) return nullptr;
    zeroed_host_buffer fresh;
    void* data = map_zeroed(bytes, fresh.mapping, fresh.mapped_bytes);
    if (!data) return nullptr;
    ggml_backend_buffer_t buffer = ggml_backend_cpu_buffer_from_ptr(data, bytes);
    if (!buffer) return nullptr;
    ggml_tallocr talloc = ggml_tallocr_new(buffer);
    for (ggml_tensor* t = ggml_get_first_tensor(ctx); t; t = ggml_get_next_tensor(ctx, t)) {
        if (ggml_tallocr_alloc(&talloc, t) != GGML_STATUS_SUCCESS) {
            ggml_backend_buffer_free(buffer);
            return nullptr;
        }
    }
    memory = std::move(fresh);
    return buffer;
}

}  // namespace mg
