// How the server puts answers on the wire: response heads, chunk framing and
// the JSON body of the errors the server itself answers. Internal to the net
// layer; Boost-free so these rules are unit-tested without sockets.
#pragma once

#include <string>
#include <string_view>

#include "net/http_types.h"

namespace lattice::net::wire {

// Final status codes pass; anything else (a 1xx would read as an interim
// answer) becomes 500.
int ValidStatus(int status);
const char* ReasonPhrase(int status);

// True when no body bytes may follow the head: HEAD requests, 204, 304.
bool OmitsBody(int status, bool head_request);

// Status line, Server, Content-Type, Content-Length (not for 204/304), the
// extra headers, Connection, blank line. Extra headers that would break
// framing (Content-Length, Transfer-Encoding, Connection) or carry CR/LF are
// dropped. keep_alive false adds "Connection: close"; an HTTP/1.0 client
// (request_version 10) that asked for keep-alive gets "Connection: keep-alive".
void AppendResponseHead(std::string& out, const HttpResponse& response, bool keep_alive,
                        int request_version);

// Head of a streamed answer: chunked, or (HTTP/1.0) until the connection closes.
void AppendStreamHead(std::string& out, int status, const std::string& content_type,
                      bool chunked);
// Skips empty data: an empty chunk would end a chunked body.
void AppendChunk(std::string& out, std::string_view data, bool chunked);
inline void AppendLastChunk(std::string& out) { out += "0\r\n\r\n"; }

// {"error":{"code":CODE,"message":MESSAGE}} with the given status.
HttpResponse ErrorResponse(int status, const char* code, std::string_view message);
std::string JsonEscape(std::string_view s);

}  // namespace lattice::net::wire
