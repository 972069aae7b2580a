// The real-input FFT of the chroma front end (see fft.h).
#include "melody/fft.h"

#include <cmath>
#include <string>

#include "runtime/error.h"

namespace mg {

static bool is_power_of_two(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

real_fft::real_fft(int64_t n) : n_(n), half_(n / 2) {
    // 2^30 keeps the uint32 permutation and the tables well inside memory limits.
    if (n < 4 || n > (int64_t{1} << 30) || !is_power_of_two(n)) {
        throw error(error_code::invalid_argument,
                    "FFT size " + std::to_string(n) + " is not a power of two in [4, 2^30]");
    }
    int bits = 0;
    while ((int64_t{1} << bits) < half_) ++bits;
    bit_reverse_.resize(static_cast<size_t>(half_));
    for (int64_t i = 0; i < half_; ++i) {
        uint32_t r = 0;
        for (int b = 0; b < bits; ++b) r |= ((static_cast<uint32_t>(i) >> b) & 1u) << (bits - 1 - b);
        bit_reverse_[static_cast<size_t>(i)] = r;
    }
    const double two_pi = 2.0 * M_PI;
    twiddle_re_.resize(static_cast<size_t>(half_));
    twiddle_im_.resize(static_cast<size_t>(half_));
    for (int64_t span = 1; span < half_; span *= 2) {
        for (int64_t k = 0; k < span; ++k) {
            const double a = -two_pi * static_cast<double>(k) / static_cast<double>(2 * span);
            twiddle_re_[static_cast<size_t>(span - 1 + k)] = std::cos(a);
            twiddle_im_[static_cast<size_t>(span - 1 + k)] = std::sin(a);
        }
    }
    split_.resize(static_cast<size_t>(half_ / 2 + 1));
    for (int64_t k = 0; k <= half_ / 2; ++k) {
        const double a = -two_pi * static_cast<double>(k) / static_cast<double>(n_);
        split_[static_cast<size_t>(k)] = {std::cos(a), std::sin(a)};
    }
    work_re_.resize(static_cast<size_t>(half_));
    work_im_.resize(static_cast<size_t>(half_));
}

void real_fft::forward(const double* in, std::complex<double>* out) {
    double* re = work_re_.data();
    double* im = work_im_.data();
    // Pack even samples as real parts and odd samples as imaginary parts, in bit-reversed order.
    for (int64_t i = 0; i < half_; ++i) {
        const uint32_t r = bit_reverse_[static_cast<size_t>(i)];
        re[r] = in[2 * i];
        im[r] = in[2 * i + 1];
    }
    // Span 1 has only the unit twiddle: plain sums and differences of neighbours.
    for (int64_t i = 0; i < half_; i += 2) {
        const double ar = re[i], ai = im[i], br = re[i + 1], bi = im[i + 1];
        re[i] = ar + br;
        im[i] = ai + bi;
        re[i + 1] = ar - br;
        im[i + 1] = ai - bi;
    }
    // Iterative decimation-in-time butterflies over doubling spans.
    for (int64_t span = 2; span < half_; span *= 2) {
        const double* wr = twiddle_re_.data() + span - 1;
        const double* wi = twiddle_im_.data() + span - 1;
        for (int64_t start = 0; start < half_; start += 2 * span) {
            double* ar = re + start;
            double* ai = im + start;
            double* br = ar + span;
            double* bi = ai + span;
            for (int64_t k = 0; k < span; ++k) {
                const double tr = br[k] * wr[k] - bi[k] * wi[k];
                const double ti = br[k] * wi[k] + bi[k] * wr[k];
                const double xr = ar[k], xi = ai[k];
                ar[k] = xr + tr;
                ai[k] = xi + ti;
                br[k] = xr - tr;
                bi[k] = xi - ti;
            }
        }
    }
    // Split: with Z = FFT(packed), E[k] = (Z[k] + conj(Z[h-k])) / 2 is the spectrum of the even samples and
    // O[k] = (Z[k] - conj(Z[h-k])) / 2i that of the odd ones; X[k] = E[k] + w^k O[k], X[h-k] = conj(E[k] - w^k O[k]).
    out[0] = {re[0] + im[0], 0.0};
    out[half_] = {re[0] - im[0], 0.0};
    for (int64_t k = 1; k <= half_ / 2; ++k) {
        const std::complex<double> zk = {re[k], im[k]};
        const std::complex<double> zm = {re[half_ - k], -im[half_ - k]};
        const std::complex<double> e = 0.5 * (zk + zm);
        const std::complex<double> d = 0.5 * (zk - zm);
        const std::complex<double> o = {d.imag(), -d.real()};  // d / i
        const std::complex<double> wo = split_[static_cast<size_t>(k)] * o;
        out[k] = e + wo;
        out[half_ - k] = std::conj(e - wo);
    }
}

}  // namespace mg
