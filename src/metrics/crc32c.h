// CRC-32C (Castagnoli, polynomial 0x1EDC6F41 reflected as 0x82F63B78), the
// checksum of TFRecord framing. Uses the SSE4.2 crc32 instruction when the
// CPU has it (checked once at run time), else a slicing-by-8 table.
#pragma once

#include <cstdint>
#include <string_view>

namespace lattice::metrics {

// Extends `crc` (the CRC of the bytes before `data`; 0 to start) over `data`.
// Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

// The TFRecord masking of a CRC stored next to the data it covers.
inline uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

// The portable table path alone, for tests that compare both paths.
uint32_t Crc32cPortable(std::string_view data, uint32_t crc = 0);

}  // namespace lattice::metrics
