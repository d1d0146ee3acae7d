// Numbers of estimates for people: decimal bytes (as the papers and disk
// vendors count them) and dollars.
#pragma once

#include <string>

namespace lattice::estimate {

// 3 significant digits in decimal units: 112 GB, 38.5 GB, 1.88 GB, 268 MB, 0 B.
std::string DecimalBytes(double bytes);
// A parameter count the way model names say it: 7B, 1.5B, 125M, 350k, 1.2T.
std::string ShortCount(double count);
// Dollars: 3 decimals below $10 (1.006), 2 above (55.04); no "$".
std::string Usd(double dollars);

}  // namespace lattice::estimate
