#include "cli/api_client.h"

#include <gtest/gtest.h>

#include <future>

#include "net/net_test_util.h"

namespace lattice::cli {
namespace {

TEST(ApiClient, ServerUrlWithABasePathIsPrefixedOnce) {
  std::promise<std::string> seen;
  net::testing::ServerThread server([&](net::HttpRequest req, std::shared_ptr<net::Exchange> ex) {
    net::HttpResponse r;
    r.body = "{}";
    r.content_type = "application/json";
    ex->Respond(std::move(r));
    seen.set_value(req.path);
  });
  ApiClient client(Connection{"http://127.0.0.1:" + std::to_string(server.port()) + "/lattice", ""});
  auto r = client.Get("/runs");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(seen.get_future().get(), "/lattice/api/v1/runs");
}

}  // namespace
}  // namespace lattice::cli
