// MusicGen's codebook delay pattern (docs/reference-notes.md §6, §9, §12), as plain C++ over int32 grids.
// Row r of the delayed matrix is shifted right by delay(r) + 1: position 0 is the BOS column, codebook
// r starts after its delay, and the last (groups - 1 - delay) positions are forced to the pad code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mg {

struct delay_pattern {
    int32_t codebooks = 4;    // K rows (8 for stereo)
    int32_t channels = 1;     // stereo interleaves rows 2q (left) and 2q+1 (right) with the same delay
    int32_t pad_code = 2048;  // also BOS / decoder start
    int32_t max_length = 0;   // total delayed positions: 1 (BOS) + prompt frames + new tokens

    int32_t groups() const { return codebooks / channels; }
    int32_t delay(int32_t row) const { return row / channels; }
    // Audio frames once the stagger is undone (max_length - groups).
    int32_t frames() const { return max_length - groups(); }

    // The value position t of `row` is forced to, or -1 when the model's choice is kept. `prompt` holds
    // prompt_frames codes per row ([K, prompt_frames], row-major) or is null.
    int32_t forced(int32_t row, int32_t t, const int32_t* prompt, int32_t prompt_frames) const;

    // [K, frames] codes from a full [K, max_length] delayed matrix: codes[r][j] = delayed[r][j + delay(r) + 1].
    std::vector<int32_t> undo(const std::vector<int32_t>& delayed) const;
};

}  // namespace mg
