// The reference peer for API server benchmarks: the least a single-threaded
// Boost.Beast coroutine server does to answer HTTP/1.1 keep-alive requests,
// here with one constant JSON document about the size of a run document.
// Whatever our server costs beyond this is our own overhead.
//
//   bare_beast_server PORT     (0 picks a free port)
// Prints "listening <port>" on stdout once it accepts connections.
#include <utility>  // before awaitable.hpp: it uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr char kDocument[] =
    R"({"name":"bench","state":"running","description":"a constant run document for )"
    R"(benchmarks","created_at":"2024-01-01T00:00:00Z","experiments":{"queued":0,"starting":0,)"
    R"("running":4,"succeeded":12,"failed":0,"cancelled":0},"resources":{"gpus":1,"cpus":4,)"
    R"("memory":"16G","nodes":1},"cluster":"local","strategy":"grid_search","cost_usd":0.0})";

asio::awaitable<void> Serve(tcp::socket socket) {
  boost::beast::flat_buffer buffer;
  boost::system::error_code ec;
  for (;;) {
    http::request<http::string_body> request;
    co_await http::async_read(socket, buffer, request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    http::response<http::string_body> response(http::status::ok, request.version());
    response.set(http::field::server, "bare");
    response.set(http::field::content_type, "application/json");
    response.keep_alive(request.keep_alive());
    response.body() = kDocument;
    response.prepare_payload();
    co_await http::async_write(socket, response, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !response.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> Accept(tcp::acceptor& acceptor) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) continue;
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(acceptor.get_executor(), Serve(std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  try {
    asio::io_context ioc(1);
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                              static_cast<unsigned short>(std::atoi(argv[1]))));
    std::printf("listening %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);
    asio::co_spawn(ioc, Accept(acceptor), asio::detached);
    ioc.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bare_beast_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
