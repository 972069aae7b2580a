// See pipeline.h.
#include "pipeline/pipeline.h"

#include <algorithm>
#include <memory>
#include <string>

#include "codec/decoder.h"
#include "codec/stream.h"
#include "codec/workspace.h"
#include "runtime/error.h"
#include "text/text-conditioning.h"

namespace mg {

namespace {

// Rows of one audio channel out of a stereo-interleaved [K][frames] code matrix (the only place the interleaving
// is undone): rows[q][t] = codes[(q * C + c)][t], read through `at(row, t)`.
template <typename At>
void channel_rows(int32_t K, int32_t C, int32_t c, int32_t frames, At at, std::vector<int32_t>& rows) {
    const int32_t Q = K / C;
    rows.resize(static_cast<size_t>(Q) * frames);
    for (int32_t q = 0; q < Q; ++q) {
        for (int32_t t = 0; t < frames; ++t) rows[static_cast<size_t>(q) * frames + t] = at(q * C + c, t);
    }
}

// LM steps of a window adding `frames` new frames.
int32_t window_steps(const model& m, int32_t frames) {
    const auto groups = static_cast<int32_t>(m.hparams.lm.n_codebooks / m.hparams.lm.audio_channels);
    return frames + groups - 1;
}

// Turns the LM's frames into chunks: keeps every frame's codes, and either streams them through one exact
// streaming decoder per prompt and channel (chunk_frames > 0) or decodes everything in one pass at the end.
class chunker {
  public:
    chunker(const model& m, const pipeline_request& request, int32_t B, int32_t total, const pipeline_events& events)
        : m_(m),
          B_(B),
          K_(static_cast<int32_t>(m.hparams.lm.n_codebooks)),
          C_(static_cast<int32_t>(m.hparams.lm.audio_channels)),
          total_(total),
          chunk_frames_(request.chunk_frames),
          first_chunk_frames_(request.first_chunk_frames > 0 ? request.first_chunk_frames : request.chunk_frames),
          want_codes_(request.want_codes),
          want_audio_(request.want_audio),
          events_(events) {
        if (want_audio_ && chunk_frames_ > 0) {
            // A workspace of this stream's own, not one of the model's idle ones: a stream's job runs on a thread of
            // its own, and pooled buffers that move from thread to thread and grow there left freed blocks in every
            // thread's malloc arena (npm run soak: RSS +70-122 MB over 200 streams against +32-37 MB so). Within the
            // stream the workspace is reused push after push.
            workspace_ = std::make_unique<encodec_workspace_lease>(fresh_encodec_workspace(m));
            for (int32_t i = 0; i < B_ * C_; ++i) {
                decoders_.push_back(std::make_unique<encodec_stream>(m, K_ / C_, **workspace_));
            }
        }
    }

    int32_t frames() const { return static_cast<int32_t>(history_.size() / frame_values()); }

    // Codes [b][k] of output frame frames() (the next one).
    void push(const int32_t* codes) {
        history_.insert(history_.end(), codes, codes + frame_values());
        if (!want_audio_) {
            if (frames() == total_) deliver(pipeline_chunk{}, true, 0);
        } else if (chunk_frames_ > 0) {
            ++n_staged_;
            const bool last = frames() == total_;
            if (n_staged_ == (pushed_first_ ? chunk_frames_ : first_chunk_frames_) || last) stream_chunk(last);
        } else if (frames() == total_) {
            whole_chunk();
        }
    }

    // The codes of the last `keep` frames as an audio prompt [b][k][keep].
    std::vector<int32_t> tail(int32_t keep) const {
        std::vector<int32_t> out(static_cast<size_t>(B_) * K_ * keep);
        const int32_t have = frames();
        for (int32_t b = 0; b < B_; ++b) {
            for (int32_t k = 0; k < K_; ++k) {
                for (int32_t t = 0; t < keep; ++t) {
                    out[(static_cast<size_t>(b) * K_ + k) * keep + t] = code(have - keep + t, b, k);
                }
            }
        }
        return out;
    }

  private:
    size_t frame_values() const { return static_cast<size_t>(B_) * K_; }
    int32_t code(int32_t frame, int32_t b, int32_t k) const {
        return history_[(static_cast<size_t>(frame) * B_ + b) * K_ + k];
    }

    void stream_chunk(bool last) {
        pipeline_chunk chunk;
        chunk.audio.resize(B_);
        const int32_t first = frames() - n_staged_;
        for (int32_t b = 0; b < B_; ++b) {
            for (int32_t c = 0; c < C_; ++c) {
                channel_rows(
                    K_, C_, c, n_staged_, [&](int32_t k, int32_t t) { return code(first + t, b, k); }, rows_);
                encodec_stream& decoder = *decoders_[static_cast<size_t>(b) * C_ + c];
                std::vector<float> samples = decoder.push(rows_.data(), n_staged_);
                if (last) {
                    const std::vector<float> rest = decoder.finish();
                    samples.insert(samples.end(), rest.begin(), rest.end());
                }
                chunk.audio[b].push_back(std::move(samples));
            }
        }
        n_staged_ = 0;
        pushed_first_ = true;
        // Identical decoders fed the same number of frames finalise the same number of samples.
        const size_t n_samples = chunk.audio[0][0].size();
        if (n_samples == 0 && !last) return;  // still inside the decoder's lookahead
        deliver(std::move(chunk), last, n_samples);
    }

    void whole_chunk() {
        pipeline_chunk chunk;
        const int32_t n = frames();
        std::vector<int32_t> codes(static_cast<size_t>(K_) * n);
        for (int32_t b = 0; b < B_; ++b) {
            for (int32_t k = 0; k < K_; ++k) {
                for (int32_t t = 0; t < n; ++t) codes[static_cast<size_t>(k) * n + t] = code(t, b, k);
            }
            chunk.audio.push_back(decode_channels(m_, codes.data(), n));
        }
        deliver(std::move(chunk), true, chunk.audio[0][0].size());
    }

    void deliver(pipeline_chunk&& chunk, bool last, size_t n_samples) {
        chunk.start_sample = start_sample_;
        chunk.final = last;
        start_sample_ += static_cast<int64_t>(n_samples);
        if (last && want_codes_) {
            const int32_t n = frames();
            chunk.frames = n;
            chunk.codes.resize(static_cast<size_t>(B_) * K_ * n);
            for (int32_t b = 0; b < B_; ++b) {
                for (int32_t k = 0; k < K_; ++k) {
                    for (int32_t t = 0; t < n; ++t) {
                        chunk.codes[(static_cast<size_t>(b) * K_ + k) * n + t] = code(t, b, k);
                    }
                }
            }
        }
        events_.on_chunk(std::move(chunk));
    }

    const model& m_;
    const int32_t B_, K_, C_, total_, chunk_frames_, first_chunk_frames_;
    bool pushed_first_ = false;
    const bool want_codes_, want_audio_;
    const pipeline_events& events_;
    std::unique_ptr<encodec_workspace_lease> workspace_;     // shared by the decoders, which push in turn
    std::vector<std::unique_ptr<encodec_stream>> decoders_;  // [b * C + c]
    std::vector<int32_t> history_;                           // every output frame's codes, [frame][b][k]
    std::vector<int32_t> rows_;                              // one decoder's [q][t]
    int32_t n_staged_ = 0;
    int64_t start_sample_ = 0;
};

}  // namespace

std::vector<std::vector<float>> decode_channels(const model& m, const int32_t* codes, int32_t frames) {
    const auto K = static_cast<int32_t>(m.hparams.lm.n_codebooks);
    const auto C = static_cast<int32_t>(m.hparams.lm.audio_channels);
    const encodec_workspace_lease workspace = acquire_encodec_workspace(m);
    std::vector<std::vector<float>> audio;
    std::vector<int32_t> rows;
    // One channel after the other: decodes of one model share its compute backend.
    for (int32_t c = 0; c < C; ++c) {
        channel_rows(
            K, C, c, frames, [&](int32_t k, int32_t t) { return codes[static_cast<size_t>(k) * frames + t]; }, rows);
        audio.push_back(encodec_decode(m, *workspace, rows.data(), K / C, frames));
    }
    return audio;
}

void run_pipeline(const model& m, const pipeline_request& request, const pipeline_events& events,
                  const std::atomic<bool>& abort) {
    const generation_request& first = request.generation;
    const bool long_form = request.window_frames > 0;
    if (request.chunk_frames < 0) throw error(error_code::invalid_argument, "chunk frames must be >= 0");
    if (request.first_chunk_frames < 0 || request.first_chunk_frames > request.chunk_frames) {
        throw error(error_code::invalid_argument, "first chunk frames must be in [0, chunk frames]");
    }
    if (long_form && !(request.stride_frames >= 1 && request.stride_frames < request.window_frames &&
                       first.prompt_frames < request.window_frames && request.total_new_frames >= 1)) {
        throw error(error_code::invalid_argument,
                    "long-form windows need 1 <= stride < window, an audio prompt shorter than the window and at "
                    "least one new frame");
    }
    const text_condition text = condition_on_text(m, pad_text_batch(m, request.tokens));
    const int32_t B = text.batch.n_batch;
    const int32_t total = first.prompt_frames + (long_form ? request.total_new_frames : first.frames);
    chunker chunks(m, request, B, total, events);

    // Steps over all windows, so progress runs from 1 to the true total once.
    const int32_t first_frames =
        long_form ? std::min(request.window_frames - first.prompt_frames, request.total_new_frames) : first.frames;
    int32_t total_steps = window_steps(m, first_frames);
    for (int32_t left = request.total_new_frames - first_frames; long_form && left > 0; left -= request.stride_frames) {
        total_steps += window_steps(m, std::min(request.stride_frames, left));
    }
    int32_t steps_before = 0;
    int32_t skip = 0;  // frames of the current window that earlier windows already emitted
    const auto run_window = [&](const generation_request& window) {
        generate_codes(
            m, text, window,
            [&](int32_t step, int32_t) {
                if (events.on_step) events.on_step(steps_before + step, total_steps);
            },
            abort,
            [&](int32_t frame, const int32_t* codes) {
                if (frame >= skip) chunks.push(codes);
            });
        steps_before += window_steps(m, window.frames);
    };

    generation_request window = first;
    window.frames = first_frames;
    run_window(window);
    const int32_t keep = request.window_frames - request.stride_frames;
    for (size_t w = 1; chunks.frames() < total; ++w) {
        const int32_t have = chunks.frames();
        window.prompt_codes = chunks.tail(keep);
        window.prompt_frames = keep;
        window.frames = std::min(request.stride_frames, total - have);
        window.sampling.seed = first.sampling.seed + w;  // each window draws its own random stream, reproducibly
        window.chroma =
            w - 1 < request.window_chroma.size() ? request.window_chroma[w - 1] : std::vector<chroma_features>{};
        skip = keep;
        run_window(window);
    }
}

}  // namespace mg
