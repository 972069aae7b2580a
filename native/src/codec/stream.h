// Exact streaming EnCodec decoding: codes arrive a few frames at a time and every sample is emitted as soon as
// its receptive field is complete, by carrying decoder state (LSTM h/c, each convolution's left context, each
// transposed convolution's overlap) — never by re-decoding or crossfading. The concatenation of everything
// push() and finish() return equals encodec_decode() of all frames at once (within float32 noise).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "codec/workspace.h"
#include "model/model.h"

namespace mg {

class encodec_stream {
  public:
    // A mono decoder for codes of n_q quantizers (n_q <= the codec's quantizer count) computing in `workspace`,
    // which must outlive it. Streams that push one after the other (never from two threads at once) may share one.
    encodec_stream(const model& m, int32_t n_q, encodec_workspace& workspace);
    ~encodec_stream();
    encodec_stream(const encodec_stream&) = delete;
    encodec_stream& operator=(const encodec_stream&) = delete;

    // Appends n frames, codes[q * n + t] (every code in [0, codebook_size)), and returns the samples that are
    // now final (possibly none). Throws mg::error(invalid_argument) for bad codes, and after finish().
    std::vector<float> push(const int32_t* codes, int32_t n);

    // The stream ends: returns every remaining sample (the right edge uses the reference's end padding).
    std::vector<float> finish();

    // Compute memory the workspace's graph runner holds (graph_runner::compute_buffer_bytes): the largest stage
    // window it computed so far. For diagnostics.
    size_t compute_buffer_bytes() const;

    // How many frames beyond frame j must have been pushed before all of frame j's samples are final.
    static int32_t lookahead_frames(const model& m);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace mg
