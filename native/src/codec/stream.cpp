// The exact streaming EnCodec decoder (see stream.h): per-stage context bookkeeping over the one-shot stage graphs.
#include "codec/stream.h"

#include <algorithm>
#include <string>

#include "codec/decoder.h"
#include "codec/lstm.h"
#include "codec/padding.h"
#include "runtime/error.h"

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

// One stage's stream state: the inputs a later window still reads ([held_start, n_in), channel fastest) and the
// LSTM's h/c. An ELU and the convolution stage after it are one step: stages [index, index + count) of the decoder,
// shaped as the last.
struct stage_state {
    size_t index = 0;  // into model.codec.decoder
    size_t count = 1;
    stage_shape shape;
    std::vector<float> held;
    int64_t channels = 0;
    int64_t held_start = 0;
    int64_t n_in = 0;
    int64_t n_out = 0;
    encodec_lstm_state lstm;
    bool lstm_started = false;
};

// New frames of a stage's input: the previous stage's new outputs, inside one of the workspace's windows.
struct new_frames {
    float* data = nullptr;
    int64_t channels = 0;
    int64_t length = 0;
};

}  // namespace

struct encodec_stream::impl {
    impl(const model& m, int32_t n_q, encodec_workspace& ws) : m(m), n_q(n_q), ws(ws) {}

    // Feeds the new inputs of the first stage (possibly none) through every stage and returns the final waveform
    // samples. `in` lies in window `1 - spare`; each convolution stage writes its window into `spare`, and the two
    // swap roles.
    std::vector<float> run(new_frames in, int spare, bool final) {
        for (stage_state& st : stages) {
            if (st.shape.kind == encodec_stage_kind::lstm) {
                lstm_step(st, in);
                continue;
            }
            in = conv_step(st, in, final, ws.windows[spare]);
            spare = 1 - spare;
            if (in.length == 0 && !final) return {};
        }
        return std::vector<float>(in.data, in.data + in.length * in.channels);
    }

    // Causal: every input becomes an output now, in place; h/c continue from the previous push.
    void lstm_step(stage_state& st, new_frames in) {
        if (in.length == 0) return;
        const encodec_lstm& lstm = m.codec.decoder[st.index].lstm;
        if (!st.lstm_started) {
            st.lstm = encodec_lstm_initial_state(lstm, in.channels);
            st.lstm_started = true;
        }
        encodec_lstm_forward(ws.runner, lstm, in.channels, in.data, in.length, st.lstm, encodec_decoder_on_cpu(m));
    }

    new_frames conv_step(stage_state& st, new_frames in, bool final, encodec_activations& window) {
        const stage_shape& s = st.shape;
        if (in.length > 0) {
            st.channels = in.channels;
            st.n_in += in.length;
        }
        const int64_t end = final ? (s.transposed ? st.n_in * s.stride : st.n_in) : ready_outputs(s, st.n_in);
        if (end <= st.n_out) {
            st.held.insert(st.held.end(), in.data, in.data + in.length * in.channels);
            return {};
        }

        // Run the stage's one-shot graph on a window that starts early enough for its outputs from n_out on to
        // be exact and ends at the last input: outputs near a window edge that is not a true end of the signal
        // see the window's reflect padding (or a missing overlap) and are cut off; at the true start and end the
        // window's padding and trimming are exactly the one-shot decoder's.
        const int64_t start = first_needed_input(s, st.n_out);
        window.channels = st.channels;
        window.length = st.n_in - start;
        window.data.assign(st.held.begin() + (start - st.held_start) * st.channels, st.held.end());
        window.data.insert(window.data.end(), in.data, in.data + in.length * in.channels);
        // What later windows read: the inputs from the first one the outputs after this window need.
        const int64_t keep_from = first_needed_input(s, end);
        st.held.assign(window.data.begin() + (keep_from - start) * st.channels, window.data.end());
        st.held_start = keep_from;

        encodec_run_conv_stages(m, ws.runner, nullptr, 0, 0, st.index, st.index + st.count, window, nullptr);
        const int64_t window_out_start = s.transposed ? start * s.stride : start;
        new_frames out;
        out.channels = window.channels;
        out.length = end - st.n_out;
        out.data = window.data.data() + (st.n_out - window_out_start) * window.channels;
        st.n_out = end;
        return out;
    }

    const model& m;
    int32_t n_q;
    encodec_workspace& ws;
    std::vector<stage_state> stages;
    bool finished = false;
    bool pushed = false;
};

encodec_stream::encodec_stream(const model& m, int32_t n_q, encodec_workspace& workspace)
    : impl_(std::make_unique<impl>(m, n_q, workspace)) {
    encodec_check_codes(m.hparams.codec, nullptr, n_q, 0);  // no codes yet: checks the codebook count
    const std::vector<encodec_stage>& decoder = m.codec.decoder;
    for (size_t i = 0; i < decoder.size(); i += impl_->stages.back().count) {
        stage_state st;
        st.index = i;
        // An ELU needs no context, so it runs in the graph of the convolution after it, on that one's window.
        const bool elu_first = decoder[i].kind == encodec_stage_kind::elu && i + 1 < decoder.size() &&
                               decoder[i + 1].kind != encodec_stage_kind::lstm;
        st.count = elu_first ? 2 : 1;
        st.shape = shape_of(decoder[i + st.count - 1], i + st.count - 1);
        impl_->stages.push_back(std::move(st));
    }
}

encodec_stream::~encodec_stream() = default;

std::vector<float> encodec_stream::push(const int32_t* codes, int32_t n) {
    if (impl_->finished) throw error(error_code::invalid_argument, "codes pushed to a finished EnCodec stream");
    if (n < 0) throw error(error_code::invalid_argument, "cannot push " + std::to_string(n) + " frames");
    if (n == 0) return {};
    encodec_check_codes(impl_->m.hparams.codec, codes, impl_->n_q, n);
    // The RVQ decode is per frame, so it streams without context.
    encodec_activations& act = impl_->ws.windows[1];
    encodec_run_conv_stages(impl_->m, impl_->ws.runner, codes, impl_->n_q, n, 0, 0, act, nullptr);
    impl_->pushed = true;
    return impl_->run({act.data.data(), act.channels, act.length}, 0, false);
}

std::vector<float> encodec_stream::finish() {
    if (impl_->finished) throw error(error_code::invalid_argument, "finish() called twice on an EnCodec stream");
    impl_->finished = true;
    if (!impl_->pushed) return {};
    return impl_->run(new_frames{}, 0, true);
}

size_t encodec_stream::compute_buffer_bytes() const { return impl_->ws.runner.compute_buffer_bytes(); }

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
