// Masks credentials in text that is shown to users or stored in logs: the
// output of package installers (pip, uv), set-up commands, error messages.
// Pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace lattice {

// Replaces the userinfo of every URL with "****", keeping everything else:
//   https://user:s3cret@host/simple   -> https://****@host/simple
//   git+https://ghp_token@github.com  -> git+https://****@github.com
//   --extra-index-url=https://u:p@h   -> --extra-index-url=https://****@h
//   https://user:****@host (as pip prints it) -> https://****@host
// and a bare "name:****@" (pip's own mask without the scheme) -> "****@".
// A URL's userinfo is what lies between "scheme://" and the last '@' before
// the end of its authority ('/', '?', '#', a blank, a quote or a control
// byte). Text without credentials comes back unchanged; any bytes are
// accepted (not only UTF-8), and the result is stable: redacting it again
// changes nothing.
std::string RedactCredentials(std::string_view text);

}  // namespace lattice
