// Chroma features of MusicGen-Melody's feature extractor (HF MusicgenMelodyFeatureExtractor,
// docs/reference-notes.md §11.1 steps 2-6): power STFT -> librosa chroma filter bank -> per-frame max normalisation ->
// one-hot argmax. The caller resamples and downmixes to mono at the model's sample rate first.
#pragma once
#include <cstdint>
#include <vector>

namespace mg {

struct melody_params {
    int64_t sample_rate = 0;   // Hz of the input PCM (the model's rate)
    int64_t n_fft = 0;         // STFT size, a power of two
    int64_t hop_length = 0;    // STFT hop
    int64_t num_chroma = 0;    // pitch classes
    int64_t chunk_length = 0;  // seconds of audio used at most
};

struct chroma_result {
    int64_t frames = 0;
    int64_t num_chroma = 0;
    std::vector<float> prequant;  // [frames][num_chroma]: filter-bank energies divided by max(frame max, 1e-6)
    std::vector<float> onehot;    // [frames][num_chroma]: 1 at the first argmax of each prequant row
};

// Throws mg::error(invalid_argument) for parameters outside sane ranges (see chroma.cpp).
void check_melody_params(const melody_params& p);

// librosa-style chroma filter bank [num_chroma][n_fft/2 + 1] (row 0 = C, tuning 0, octave weighting
// centre 5 / half-width 2, unit-L2 columns), in double.
std::vector<double> chroma_filter_bank(const melody_params& p);

// pcm: n mono samples at p.sample_rate (n may be 0: the clip is then all zero padding). Non-finite samples
// throw mg::error(invalid_argument).
chroma_result extract_chroma(const float* pcm, int64_t n, const melody_params& p);

}  // namespace mg
