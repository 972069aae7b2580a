// MusicGen's codebook delay pattern (see delay-pattern.h): forced tokens and undoing the delay.
#include "lm/delay-pattern.h"

namespace mg {

int32_t delay_pattern::forced(int32_t row, int32_t t, const int32_t* prompt, int32_t prompt_frames) const {
    const int32_t d = delay(row);
    if (t <= d || t >= max_length - groups() + 1 + d) return pad_code;
    const int32_t j = t - d - 1;
    if (prompt != nullptr && j < prompt_frames) return prompt[static_cast<size_t>(row) * prompt_frames + j];
    return -1;
}

std::vector<int32_t> delay_pattern::undo(const std::vector<int32_t>& delayed) const {
    const int32_t n = frames();
    std::vector<int32_t> codes(static_cast<size_t>(codebooks) * n);
    for (int32_t r = 0; r < codebooks; ++r) {
        for (int32_t j = 0; j < n; ++j) {
            codes[static_cast<size_t>(r) * n + j] = delayed[static_cast<size_t>(r) * max_length + j + delay(r) + 1];
        }
    }
    return codes;
}

}  // namespace mg
