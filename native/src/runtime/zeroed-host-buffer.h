// A CPU backend buffer of zeros whose pages cost nothing until first written: for the LM's KV cache, which must
// start as zeros (the replayable step attends over unwritten positions with weight 0, harmless only for finite
// values) but fills one position per step. ggml's own CPU buffer is malloc'd memory that ggml_backend_buffer_clear
// then writes in full: for a 30 s stream of musicgen-small (a 295 MB f16 cache) that clear and its 4 KiB page faults
// took ~0.8 s before the first step on the 2-core development VM. Anonymous pages come zero-filled from the kernel
// on first touch, as transparent huge pages where the kernel offers them (2 MiB: 512 times fewer faults).
#pragma once
#include <ggml-backend.h>

#include <cstddef>

namespace mg {

struct zeroed_host_buffer {
    zeroed_host_buffer() = default;
    zeroed_host_buffer(const zeroed_host_buffer&) = delete;
    zeroed_host_buffer& operator=(const zeroed_host_buffer&) = delete;
    zeroed_host_buffer(zeroed_host_buffer&& other) noexcept;
    zeroed_host_buffer& operator=(zeroed_host_buffer&& other) noexcept;
    ~zeroed_host_buffer();

    void* mapping = nullptr;  // what to release (the mapping, or the fallback's allocation)
    size_t mapped_bytes = 0;
};

// Places every tensor of `ctx` (created with no_alloc) in one zeroed CPU buffer; `memory` keeps the pages, and must
// outlive the returned buffer. Returns null when the memory cannot be had.
ggml_backend_buffer_t alloc_zeroed_cpu_tensors(ggml_context* ctx, zeroed_host_buffer& memory);

}  // namespace mg
