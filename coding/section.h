#pragma once

// One section of a compressed vector (coding/format.h) in decoded form, the payload
// coders of float sections, and the rule that adds a section into a dense vector.
// Compress() and DecodeAdd() both add through ApplySection, which is what makes the
// sender's `decoded` equal to what a receiver adds.

#include <cstdint>
#include <span>
#include <vector>

#include "coding/format.h"
#include "common/status.h"

namespace sotto::coding {

// A section's content, support-relative: for Support::kRandK, index i means
// support[i]; for Support::kAll, the element index itself.
struct SectionData {
  std::vector<std::uint32_t> index;
  std::vector<std::int32_t> level;  // Levels sections.
  std::vector<float> value;         // Floats sections.
  std::vector<std::uint32_t> support;  // Positions of a rand-k support.
};

// Appends the payload of a floats section (index/value: nnz entries, indices
// increasing, < n) to `out`.
void EncodeFloats(FloatCoder coder, std::uint64_t n, std::span<const std::uint32_t> index,
                  std::span<const float> value, std::vector<std::uint8_t>* out);
// Decodes a floats section payload into data->index/value. kCorrupted on malformed
// payloads and non-finite values.
Status DecodeFloats(FloatCoder coder, std::span<const std::uint8_t> payload, std::uint64_t n,
                    std::uint64_t nnz, SectionData* data);

// Adds the section to `target` (length = the message dimension). `header` is the
// message header (its seed regenerates subtractive dither). Requires: data is valid
// for the section (as DecodeLevels / DecodeFloats guarantee).
void ApplySection(const MessageHeader& header, const SectionHeader& section, int section_index,
                  const SectionData& data, std::span<float> target);
// For a message of one section: target += q and weighted += weight * q, where q is the
// section applied to a zeroed vector; bit for bit what ApplySection into zeros and
// then those two additions give, without the dense vector (O(non-zeros) for sparse
// sections). Requires: weighted.size() == target.size().
// target += sum and weighted += weight * sum, element by element: how a sender and its
// receivers add a message of several sections, summed in a zeroed vector first.
void AddWeighted(std::span<const float> sum, std::span<float> target, std::span<float> weighted, float weight);
void ApplySectionWeighted(const MessageHeader& header, const SectionHeader& section, int section_index,
                          const SectionData& data, std::span<float> target, std::span<float> weighted,
                          float weight);

}  // namespace sotto::coding
