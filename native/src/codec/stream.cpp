// The exact streaming EnCodec decoder (see stream.h): per-stage context bookkeeping over the one-shot stage graphs.
#include "codec/stream.h"

#include <algorithm>
#include <memory>
#include <string>

#include "codec/decoder.h"
#include "codec/lstm.h"
#include "codec/padding.h"
#include "runtime/error.h"
#include "runtime/graph-runner.h"

namespace mg {

namespace {

// How one decoder stage maps input samples (at its input rate) to output samples, which is all a stream needs
// to know to hold back exactly the context the stage's next outputs depend on (docs/reference-notes.md §10.2):
//  * stride-1 stages (Conv1d, ELU, residual block): output t depends on inputs [t - left, t + right], where near
//    the start the reflect padding mirrors inputs up to index `left`, and at the end the last `right` inputs.
//  * ConvTranspose1d (stride s, trimmed by trim_left / trim_right): output t is a sum over the inputs i with
//    i * s <= t + trim_left < i * s + kernel.
//  * LSTM: causal, one output per input as soon as it arrives (h/c carried).
struct stage_shape {
    encodec_stage_kind kind = encodec_stage_kind::elu;
    bool transposed = false;
    int64_t left = 0;   // stride-1: inputs before t that output t reads (through the left reflection at the start)
    int64_t right = 0;  // stride-1: inputs after t that output t reads
    int64_t stride = 1;
    int64_t trim_left = 0;
    int64_t trim_right = 0;
};

// Context of a stride-1 Conv1d: its reflect padding on each side (codec/padding.h; the `extra` padding is 0 at
// stride 1, whatever the length).
void add_conv_context(const encodec_conv& conv, stage_shape& shape, size_t stage) {
    if (conv.transposed || conv.stride != 1) {
        throw error(error_code::model_invalid, "decoder stage " + std::to_string(stage) +
                                                   " has a strided convolution, which the streaming decoder "
                                                   "does not support");
    }
    const encodec_padding pad = encodec_conv1d_padding(conv, /*length=*/1);
    shape.right += pad.right;
    shape.left += pad.left;
}

stage_shape shape_of(const encodec_stage& stage, size_t index) {
    stage_shape shape;
    shape.kind = stage.kind;
    switch (stage.kind) {
        case encodec_stage_kind::conv:
            if (stage.conv.transposed) {
                shape.transposed = true;
                shape.stride = stage.conv.stride;
                if (stage.conv.kernel < stage.conv.stride) {
                    throw error(error_code::model_invalid, "decoder stage " + std::to_string(index) +
                                                               " is a transposed convolution with a kernel shorter "
                                                               "than its stride");
                }
                const encodec_trim trim = encodec_conv_transpose1d_trim(stage.conv);
                shape.trim_left = trim.left;
                shape.trim_right = trim.right;
            } else {
                add_conv_context(stage.conv, shape, index);
            }
            break;
        case encodec_stage_kind::resblock:
            // Both convolutions of the branch, chained; the identity shortcut needs no context.
            add_conv_context(stage.res.conv1, shape, index);
            add_conv_context(stage.res.conv2, shape, index);
            break;
        case encodec_stage_kind::elu:
        case encodec_stage_kind::lstm:
            break;
    }
    return shape;
}

// Outputs of a stage that are final once `n_in` inputs arrived (the stream not yet finished).
int64_t ready_outputs(const stage_shape& s, int64_t n_in) {
    if (s.kind == encodec_stage_kind::lstm) return n_in;
    if (s.transposed) return std::max<int64_t>(0, n_in * s.stride - s.trim_left);
    return n_in > s.left ? n_in - s.right : 0;  // left <= right + 1 per conv, so this is >= 1 once n_in > left
}

// The first input a window must start at so that its outputs from `n_out` on are exact: before it, a window
// edge only disturbs outputs the stream already emitted.
int64_t first_needed_input(const stage_shape& s, int64_t n_out) {
    if (s.kind == encodec_stage_kind::lstm) return n_out;
    if (s.transposed) return n_out >= s.trim_right ? (n_out - s.trim_right) / s.stride : 0;
    return std::max<int64_t>(0, n_out - s.left);
}

// Floats that are neither zero-filled nor given back when they shrink: a stage's held inputs, into which the stage
// before writes its outputs straight from its graph. Fresh memory for every push's windows (megabytes at the
// full-rate stages) cost page faults and a zero fill each time.
class held_floats {
  public:
    float* data() { return data_.get(); }
    // Room for n more floats at the end (their values unset), returned.
    float* append(size_t n) {
        if (size_ + n > capacity_) {
            const size_t capacity = std::max(size_ + n, 2 * capacity_);
            std::unique_ptr<float[]> bigger(new float[capacity]);
            std::copy_n(data_.get(), size_, bigger.get());
            data_ = std::move(bigger);
            capacity_ = capacity;
        }
        size_ += n;
        return data_.get() + size_ - n;
    }
    // Drops the first n floats.
    void drop(size_t n) {
        std::copy(data_.get() + n, data_.get() + size_, data_.get());
        size_ -= n;
    }

  private:
    std::unique_ptr<float[]> data_;
    size_t size_ = 0;
    size_t capacity_ = 0;
};

// One stage's stream state: the inputs still needed ([held_start, n_in), channel fastest) and the LSTM's h/c.
struct stage_state {
    size_t index = 0;  // into model.codec.decoder
    stage_shape shape;
    held_floats held;
    int64_t channels = 0;
    int64_t held_start = 0;
    int64_t n_in = 0;
    int64_t n_out = 0;
    encodec_lstm_state lstm;
    bool lstm_started = false;
};

}  // namespace

struct encodec_stream::impl {
    impl(const model& m, int32_t n_q, graph_runner* shared)
        : m(m),
          n_q(n_q),
          own(shared ? nullptr : std::make_unique<graph_runner>(new_decoder_runner(m))),
          runner(shared ? *shared : *own) {}

    // Room for `length` new frames of `channels` at the input of stage i (or, past the last stage, in `samples`).
    float* input_of(size_t i, int64_t length, int64_t channels, std::vector<float>& samples) {
        if (i == stages.size()) {
            samples.resize(samples.size() + static_cast<size_t>(length * channels));
            return samples.data() + samples.size() - length * channels;
        }
        stage_state& st = stages[i];
        st.channels = channels;
        st.n_in += length;
        return st.held.append(static_cast<size_t>(length * channels));
    }

    // Runs every stage on what its inputs hold, appending the final waveform samples to `samples`.
    void run(bool final, std::vector<float>& samples) {
        for (size_t i = 0; i < stages.size(); ++i) {
            if (!step(i, final, samples) && !final) break;
        }
    }

    // Moves stage i's newly final outputs to the next stage's inputs; false when there were none.
    bool step(size_t i, bool final, std::vector<float>& samples) {
        stage_state& st = stages[i];
        const stage_shape& s = st.shape;
        if (s.kind == encodec_stage_kind::lstm) {
            // Causal: every input becomes an output now; h/c continue from the previous push.
            const int64_t n = st.n_in - st.n_out;
            if (n == 0) return false;
            if (!st.lstm_started) {
                st.lstm = encodec_lstm_initial_state(m.codec.decoder[st.index].lstm, st.channels);
                st.lstm_started = true;
            }
            encodec_lstm_forward(runner, m.codec.decoder[st.index].lstm, st.channels, st.held.data(), n, st.lstm,
                                 encodec_decoder_on_cpu(m));
            const size_t count = static_cast<size_t>(n * st.channels);
            std::copy_n(st.held.data(), count, input_of(i + 1, n, st.channels, samples));
            st.held.drop(count);
            st.held_start = st.n_out = st.n_in;
            return true;
        }
        const int64_t end = final ? (s.transposed ? st.n_in * s.stride : st.n_in) : ready_outputs(s, st.n_in);
        if (end <= st.n_out) return false;

        // Run the stage's one-shot graph on a window that starts early enough for its outputs from n_out on to
        // be exact and ends at the last input: outputs near a window edge that is not a true end of the signal
        // see the window's reflect padding (or a missing overlap) and are cut off; at the true start and end the
        // window's padding and trimming are exactly the one-shot decoder's.
        const int64_t start = first_needed_input(s, st.n_out);
        encodec_graph_input window;
        window.x = st.held.data() + (start - st.held_start) * st.channels;
        window.channels = st.channels;
        window.length = st.n_in - start;
        const int64_t window_out_start = s.transposed ? start * s.stride : start;
        encodec_run_conv_stages(m, runner, window, st.index, st.index + 1, nullptr, [&](const ggml_tensor* output) {
            const int64_t channels = output->ne[0];
            const size_t row = static_cast<size_t>(channels) * sizeof(float);
            ggml_backend_tensor_get(output, input_of(i + 1, end - st.n_out, channels, samples),
                                    static_cast<size_t>(st.n_out - window_out_start) * row,
                                    static_cast<size_t>(end - st.n_out) * row);
        });
        st.n_out = end;

        const int64_t keep_from = first_needed_input(s, st.n_out);
        st.held.drop(static_cast<size_t>((keep_from - st.held_start) * st.channels));
        st.held_start = keep_from;
        return true;
    }

    const model& m;
    int32_t n_q;
    std::unique_ptr<graph_runner> own;  // when the stream was not given a runner
    graph_runner& runner;
    std::vector<stage_state> stages;
    bool finished = false;
    bool pushed = false;
};

encodec_stream::encodec_stream(const model& m, int32_t n_q) : encodec_stream(m, n_q, nullptr) {}

encodec_stream::encodec_stream(const model& m, int32_t n_q, graph_runner& runner) : encodec_stream(m, n_q, &runner) {}

encodec_stream::encodec_stream(const model& m, int32_t n_q, graph_runner* runner)
    : impl_(std::make_unique<impl>(m, n_q, runner)) {
    encodec_check_codes(m.hparams.codec, nullptr, n_q, 0);  // no codes yet: checks the codebook count
    for (size_t i = 0; i < m.codec.decoder.size(); ++i) {
        stage_state st;
        st.index = i;
        st.shape = shape_of(m.codec.decoder[i], i);
        impl_->stages.push_back(std::move(st));
    }
}

encodec_stream::~encodec_stream() = default;

std::vector<float> encodec_stream::push(const int32_t* codes, int32_t n) {
    if (impl_->finished) throw error(error_code::invalid_argument, "codes pushed to a finished EnCodec stream");
    if (n < 0) throw error(error_code::invalid_argument, "cannot push " + std::to_string(n) + " frames");
    if (n == 0) return {};
    encodec_check_codes(impl_->m.hparams.codec, codes, impl_->n_q, n);
    // The RVQ decode is per frame, so it streams without context: its sums go straight to the first stage.
    encodec_graph_input rvq;
    rvq.codes = codes;
    rvq.n_q = impl_->n_q;
    rvq.frames = n;
    std::vector<float> samples;
    encodec_run_conv_stages(impl_->m, impl_->runner, rvq, 0, 0, nullptr, [&](const ggml_tensor* output) {
        ggml_backend_tensor_get(output, impl_->input_of(0, n, output->ne[0], samples), 0, ggml_nbytes(output));
    });
    impl_->pushed = true;
    impl_->run(false, samples);
    return samples;
}

std::vector<float> encodec_stream::finish() {
    if (impl_->finished) throw error(error_code::invalid_argument, "finish() called twice on an EnCodec stream");
    impl_->finished = true;
    if (!impl_->pushed) return {};
    std::vector<float> samples;
    impl_->run(true, samples);
    return samples;
}

size_t encodec_stream::compute_buffer_bytes() const { return impl_->runner.compute_buffer_bytes(); }

int32_t encodec_stream::lookahead_frames(const model& m) {
    std::vector<stage_shape> shapes;
    for (size_t i = 0; i < m.codec.decoder.size(); ++i) shapes.push_back(shape_of(m.codec.decoder[i], i));
    const int64_t hop = static_cast<int64_t>(m.hparams.codec.hop_length());

    // Samples final after `frames` frames, and whether every stride-1 stage is past its start (has more inputs
    // than its left context). From then on the count is frames * hop - delay, the delay summing each stage's
    // right context at the output rate.
    int64_t delay = 0;
    for (const stage_shape& s : shapes) delay = s.transposed ? delay * s.stride + s.trim_left : delay + s.right;
    const int64_t steady = (delay + hop - 1) / hop;
    auto final_samples = [&](int64_t frames, bool& started) {
        started = true;
        int64_t n = frames;
        for (const stage_shape& s : shapes) {
            if (!s.transposed && s.kind != encodec_stage_kind::lstm && n <= s.left) started = false;
            n = ready_outputs(s, n);
        }
        return n;
    };
    // Before every stage has started, a left reflection can hold the first samples back longer than `steady`.
    int64_t lookahead = steady;
    bool started = false;
    for (int64_t j = 0; !started; ++j) {
        int64_t n = j + 1;
        bool started_n = false;
        while (final_samples(n, started_n) < (j + 1) * hop) ++n;
        lookahead = std::max(lookahead, n - (j + 1));
        final_samples(j + 1, started);
    }
    return static_cast<int32_t>(lookahead);
}

}  // namespace mg
