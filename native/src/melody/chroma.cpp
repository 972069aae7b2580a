// MusicGen-Melody's chroma features (see chroma.h): STFT power, chroma filter bank, normalisation, argmax.
#include "melody/chroma.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <string>

#include "melody/fft.h"
#include "runtime/error.h"

namespace mg {

void check_melody_params(const melody_params& p) {
    auto fail = [](const std::string& what) { throw error(error_code::invalid_argument, "chroma: " + what); };
    // The bounds only keep sizes and products far from overflow; the models use 32000 / 16384 / 4096 / 12 / 30.
    if (p.sample_rate < 1000 || p.sample_rate > 1000000) fail("sampleRate must be in [1000, 1000000]");
    if (p.n_fft < 4 || p.n_fft > (int64_t{1} << 20) || (p.n_fft & (p.n_fft - 1)) != 0) {
        fail("nFft " + std::to_string(p.n_fft) + " is not a power of two in [4, 2^20]");
    }
    if (p.hop_length < 1 || p.hop_length > p.n_fft) fail("hopLength must be in [1, nFft]");
    if (p.num_chroma < 1 || p.num_chroma > 120) fail("numChroma must be in [1, 120]");
    if (p.chunk_length < 1 || p.chunk_length > 3600) fail("chunkLength must be in [1, 3600] seconds");
}

std::vector<double> chroma_filter_bank(const melody_params& p) {
    check_melody_params(p);
    const int64_t n = p.n_fft, nc = p.num_chroma, cols = n / 2 + 1;
    const double ncd = static_cast<double>(nc);
    // Fractional pitch-class position of every FFT bin: nc * log2(f / 27.5) (A0 at tuning 0); bin 0 (0 Hz) is
    // placed 1.5 octaves below bin 1. Only bins 0..cols are needed (bin `cols` for the last width).
    std::vector<double> pos(static_cast<size_t>(cols + 1));
    for (int64_t j = 1; j <= cols; ++j) {
        const double f = static_cast<double>(j) * static_cast<double>(p.sample_rate) / static_cast<double>(n);
        pos[static_cast<size_t>(j)] = ncd * std::log2(f / 27.5);
    }
    pos[0] = pos[1] - 1.5 * ncd;
    const double half = std::nearbyint(ncd / 2);  // numpy round: half to even
    std::vector<double> bank(static_cast<size_t>(nc * cols));
    std::vector<double> column(static_cast<size_t>(nc));
    // librosa starts its classes at A; rolling the rows by -3 per 12 classes makes row 0 = C.
    const int64_t shift = 3 * (nc / 12);
    for (int64_t j = 0; j < cols; ++j) {
        // The last bin of the full n-point grid has width 1; cols < n, so every kept bin has a successor.
        const double width = std::max(pos[static_cast<size_t>(j + 1)] - pos[static_cast<size_t>(j)], 1.0);
        double sum_sq = 0.0;
        for (int64_t c = 0; c < nc; ++c) {
            // Distance to class c wrapped into [-half, nc - half) (numpy remainder: sign of the divisor).
            const double x = pos[static_cast<size_t>(j)] - static_cast<double>(c) + half + 10.0 * ncd;
            const double d = x - std::floor(x / ncd) * ncd - half;
            const double g = std::exp(-0.5 * (2.0 * d / width) * (2.0 * d / width));
            column[static_cast<size_t>(c)] = g;
            sum_sq += g * g;
        }
        const double octave = (pos[static_cast<size_t>(j)] / ncd - 5.0) / 2.0;
        const double scale = std::exp(-0.5 * octave * octave) / std::sqrt(sum_sq);
        for (int64_t r = 0; r < nc; ++r) {
            bank[static_cast<size_t>(r * cols + j)] = column[static_cast<size_t>((r + shift) % nc)] * scale;
        }
    }
    return bank;
}

chroma_result extract_chroma(const float* pcm, int64_t n, const melody_params& p) {
    check_melody_params(p);
    if (n < 0 || (n > 0 && pcm == nullptr)) throw error(error_code::invalid_argument, "chroma: no samples");
    const int64_t n_fft = p.n_fft, hop = p.hop_length, nc = p.num_chroma, bins = n_fft / 2 + 1;
    const int64_t used = std::min(n, p.chunk_length * p.sample_rate);
    for (int64_t i = 0; i < used; ++i) {
        if (!std::isfinite(pcm[i])) {
            throw error(error_code::invalid_argument, "chroma: sample " + std::to_string(i) + " is not finite");
        }
    }
    // Short clips: zero padding to n_fft, split evenly with the odd sample on the right.
    const int64_t length = std::max(used, n_fft);
    const int64_t left_zeros = (length - used) / 2;
    // center=True: reflect padding of n_fft/2 on both sides (length >= n_fft > n_fft/2, so reflection stays in range).
    const int64_t pad = n_fft / 2;
    std::vector<double> signal(static_cast<size_t>(length + 2 * pad));
    auto clip_at = [&](int64_t i) -> double {  // the (zero-padded) clip, i in [0, length)
        const int64_t k = i - left_zeros;
        return k >= 0 && k < used ? static_cast<double>(pcm[k]) : 0.0;
    };
    for (int64_t i = 0; i < length + 2 * pad; ++i) {
        int64_t k = i - pad;
        if (k < 0) k = -k;
        if (k >= length) k = 2 * (length - 1) - k;
        signal[static_cast<size_t>(i)] = clip_at(k);
    }
    const int64_t frames = 1 + length / hop;

    // Periodic Hann window; |STFT|^2 is divided by sum(window^2).
    std::vector<double> window(static_cast<size_t>(n_fft));
    double window_energy = 0.0;
    for (int64_t i = 0; i < n_fft; ++i) {
        const double w = 0.5 - 0.5 * std::cos(2.0 * M_PI * static_cast<double>(i) / static_cast<double>(n_fft));
        window[static_cast<size_t>(i)] = w;
        window_energy += w * w;
    }
    // Frequency-major copy of the bank ([bins][nc]): the per-frame product then keeps nc independent sums
    // running along contiguous memory instead of one long dependency chain per class.
    const std::vector<double> bank = chroma_filter_bank(p);
    std::vector<double> bank_t(bank.size());
    for (int64_t c = 0; c < nc; ++c) {
        for (int64_t f = 0; f < bins; ++f)
            bank_t[static_cast<size_t>(f * nc + c)] = bank[static_cast<size_t>(c * bins + f)];
    }

    real_fft fft(n_fft);
    std::vector<double> frame(static_cast<size_t>(n_fft));
    std::vector<std::complex<double>> spectrum(static_cast<size_t>(bins));
    std::vector<double> raw(static_cast<size_t>(nc));
    chroma_result out;
    out.frames = frames;
    out.num_chroma = nc;
    out.prequant.assign(static_cast<size_t>(frames * nc), 0.0f);
    out.onehot.assign(static_cast<size_t>(frames * nc), 0.0f);
    for (int64_t t = 0; t < frames; ++t) {
        const double* src = signal.data() + t * hop;
        for (int64_t i = 0; i < n_fft; ++i) frame[static_cast<size_t>(i)] = src[i] * window[static_cast<size_t>(i)];
        fft.forward(frame.data(), spectrum.data());
        std::fill(raw.begin(), raw.end(), 0.0);
        for (int64_t f = 0; f < bins; ++f) {
            const std::complex<double> s = spectrum[static_cast<size_t>(f)];
            const double power = (s.real() * s.real() + s.imag() * s.imag()) / window_energy;
            const double* column = bank_t.data() + f * nc;
            for (int64_t c = 0; c < nc; ++c) raw[static_cast<size_t>(c)] += column[c] * power;
        }
        const double peak = *std::max_element(raw.begin(), raw.end());
        // torch normalize(p=inf, eps=1e-6) then argmax: the first maximum wins, so all-zero frames are class 0.
        const double denom = std::max(peak, 1e-6);
        int64_t best = 0;
        for (int64_t c = 0; c < nc; ++c) {
            const double v = raw[static_cast<size_t>(c)] / denom;
            out.prequant[static_cast<size_t>(t * nc + c)] = static_cast<float>(v);
            if (v > raw[static_cast<size_t>(best)] / denom) best = c;
        }
        out.onehot[static_cast<size_t>(t * nc + best)] = 1.0f;
    }
    return out;
}

}  // namespace mg
