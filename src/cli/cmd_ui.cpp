// `lattice ui`: where the web UI of the configured (or local) server is.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/ui_url.h"
#include "net/http_client.h"

namespace lattice::cli {
namespace {

// Whether the server asks for its token: an anonymous API read is refused.
Result<bool> TokenRequired(const std::string& server_url) {
  LATTICE_ASSIGN_OR_RETURN(net::Url url, net::ParseUrl(server_url));
  net::HttpClient anonymous(url);
  net::ClientRequest probe;
  probe.target = "/api/v1/runs?limit=1";
  probe.timeout = std::chrono::milliseconds(10'000);
  LATTICE_ASSIGN_OR_RETURN(net::HttpResponse r, anonymous.Send(probe));
  if (r.status == 401) return true;
  if (r.status == 200) return false;
  return Error(ErrorCode::kUnavailable,
               "the server at " + server_url + " answered HTTP " + std::to_string(r.status) + " to an API read");
}

}  // namespace

int UiCommand(const GlobalOptions& g, bool with_token) {
  auto client = Client(g);  // starts the local server when none runs
  if (!client.ok()) return Fail(client.error());
  const Connection& c = client->connection();
  auto required = TokenRequired(c.url);
  if (!required.ok()) return Fail(required.error());
  if (*required && with_token && c.token.empty())
    return Fail(Error(ErrorCode::kFailedPrecondition,
                      "the server requires a token and there is none in " + (g.home / "token").string()));
  const std::string url = UiUrl(c.url, *required && with_token ? c.token : "");
  if (g.json) {
    std::cout << Json{{"url", url}, {"token_required", *required}}.dump() << "\n";
    return kExitOk;
  }
  std::cout << url << "\n";
  if (*required && !with_token)
    std::cerr << "lattice: the server requires its token: the page asks for it (it is in "
              << (g.home / "token").string() << "), or open the address lattice ui --with-token prints\n";
  return kExitOk;
}

}  // namespace lattice::cli
