// `lattice ui`: the address of the web UI a server serves at its root.
#pragma once

#include <string>

namespace lattice::cli {

// The page's URL for a server's URL (its API base, e.g. http://127.0.0.1:8470):
// the server's root, plus "#token=<token>" when token is not empty. The
// fragment never leaves the browser, so the token stays out of the server's
// logs; the page reads it and sends it as a bearer token.
std::string UiUrl(const std::string& server_url, const std::string& token);

}  // namespace lattice::cli
