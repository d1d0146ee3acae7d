#include "net/http_wire.h"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>

namespace lattice::net::wire {
namespace {

void AppendNumber(std::string& out, uint64_t n, int base = 10) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, n, base);
  out.append(buf, res.ptr);
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

void AppendStatusLine(std::string& out, int status) {
  out += "HTTP/1.1 ";
  AppendNumber(out, static_cast<uint64_t>(status));
  out += ' ';
  out += ReasonPhrase(status);
  out += "\r\nServer: lattice\r\n";
}

bool HasCrLf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

}  // namespace

int ValidStatus(int status) { return status >= 200 && status <= 599 ? status : 500; }

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

bool OmitsBody(int status, bool head_request) {
  return head_request || status == 204 || status == 304;
}

void AppendResponseHead(std::string& out, const HttpResponse& response, bool keep_alive,
                        int request_version) {
  int status = ValidStatus(response.status);
  AppendStatusLine(out, status);
  out += "Content-Type: ";
  out += response.content_type.empty() || HasCrLf(response.content_type)
             ? "application/octet-stream"
             : response.content_type;
  if (status != 204 && status != 304) {
    out += "\r\nContent-Length: ";
    AppendNumber(out, response.file ? response.file->length : response.body.size());
  }
  for (const auto& [name, value] : response.headers) {
    if (name.empty() || name.find_first_of("\r\n: ") != std::string::npos || HasCrLf(value) ||
        IEquals(name, "content-length") || IEquals(name, "transfer-encoding") ||
        IEquals(name, "connection") || IEquals(name, "content-type") || IEquals(name, "server"))
      continue;
    out += "\r\n";
    out += name;
    out += ": ";
    out += value;
  }
  if (!keep_alive) {
    out += "\r\nConnection: close";
  } else if (request_version < 11) {
    out += "\r\nConnection: keep-alive";
  }
  out += "\r\n\r\n";
}

void AppendStreamHead(std::string& out, int status, const std::string& content_type,
                      bool chunked) {
  AppendStatusLine(out, ValidStatus(status));
  out += "Content-Type: ";
  out += content_type.empty() || HasCrLf(content_type) ? "text/event-stream" : content_type;
  out += "\r\nCache-Control: no-cache";
  out += chunked ? "\r\nTransfer-Encoding: chunked\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
}

void AppendChunk(std::string& out, std::string_view data, bool chunked) {
  if (data.empty()) return;
  if (!chunked) {
    out += data;
    return;
  }
  AppendNumber(out, data.size(), 16);
  out += "\r\n";
  out += data;
  out += "\r\n";
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

HttpResponse ErrorResponse(int status, const char* code, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = std::string("{\"error\":{\"code\":\"") + code + "\",\"message\":\"" +
           JsonEscape(message) + "\"}}";
  return r;
}

}  // namespace lattice::net::wire
