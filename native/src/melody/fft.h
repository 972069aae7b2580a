// Real-input FFT (power-of-two sizes) for the chroma front end: the n-point real transform is computed as an
// n/2-point complex radix-2 FFT of the even/odd samples packed as re/im, then split into the one-sided spectrum.
// Double precision throughout: chroma argmax decisions must match a float32 reference with a safe margin.
#pragma once
#include <complex>
#include <cstdint>
#include <vector>

namespace mg {

class real_fft {
  public:
    // n: a power of two >= 4; throws mg::error(invalid_argument) otherwise.
    explicit real_fft(int64_t n);

    int64_t size() const { return n_; }

    // out[k] = sum_j in[j] * exp(-2*pi*i*j*k/n) for k = 0..n/2 (n/2 + 1 values). in holds n samples.
    // Uses an internal scratch buffer, so one instance must not be shared between threads.
    void forward(const double* in, std::complex<double>* out);

  private:
    int64_t n_;
    int64_t half_;                       // complex FFT size n/2
    std::vector<uint32_t> bit_reverse_;  // permutation of the half-size transform
    // Twiddles of every butterfly stage, stage by stage: for span s, entries [s - 1, 2s - 1) hold
    // exp(-2*pi*i*k/(2s)), k < s, so each stage reads them contiguously. Real and imaginary parts are kept
    // in separate arrays (as is the work buffer) so the butterfly loop vectorises.
    std::vector<double> twiddle_re_, twiddle_im_;
    std::vector<std::complex<double>> split_;  // exp(-2*pi*i*k/n), k <= half/2, for the real split
    std::vector<double> work_re_, work_im_;
};

}  // namespace mg
