#include "cli/ui_url.h"

namespace lattice::cli {

std::string UiUrl(const std::string& server_url, const std::string& token) {
  std::string url = server_url;
  if (url.empty() || url.back() != '/') url += '/';
  if (!token.empty()) url += "#token=" + token;
  return url;
}

}  // namespace lattice::cli
