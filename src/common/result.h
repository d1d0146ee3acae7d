// The one error model of Lattice: functions that can fail return Result<T>
// (or Status for no value). An Error carries a code from a short canonical
// list and a message with context; the API layer maps codes to HTTP statuses
// once (server/api_errors), the CLI maps them to exit codes once (cli/exit_codes).
// Exceptions never cross a module boundary.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace lattice {

enum class ErrorCode {
  kInvalidArgument,    // the caller sent something malformed
  kNotFound,           // the named thing does not exist
  kAlreadyExists,      // a create collided with an existing name
  kFailedPrecondition, // valid request, wrong state (e.g. cancel a finished run)
  kResourceExhausted,  // over a limit (body size, snapshot size, sweep size)
  kUnauthenticated,    // missing or wrong token
  kUnavailable,        // a peer cannot be reached; retrying may help
  kDeadlineExceeded,   // a wait ran out of time
  kIo,                 // the OS refused a file or process operation
  kInternal,           // a broken invariant: a bug in Lattice
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;
  // Dotted path of the offending field in a request ("resources.gpus"), if any.
  std::string field;

  Error(ErrorCode c, std::string m, std::string f = {})
      : code(c), message(std::move(m)), field(std::move(f)) {}

  // Prefixes context: Error(..., "no such file").Wrap("reading train.py")
  // gives "reading train.py: no such file".
  Error Wrap(const std::string& context) const& {
    return Error(code, context + ": " + message, field);
  }
};

// Builds an Error from errno after a failed system call.
Error ErrnoError(const std::string& context, int err);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { assert(!ok()); return std::get<1>(v_); }
  Error&& error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;
inline Status OkStatus() { return Ok{}; }

}  // namespace lattice

// Returns the error of a Result/Status expression from the current function.
#define LATTICE_RETURN_IF_ERROR(expr)                 \
  do {                                                \
    auto lattice_status_ = (expr);                    \
    if (!lattice_status_.ok()) return std::move(lattice_status_).error(); \
  } while (0)

#define LATTICE_CONCAT_INNER(a, b) a##b
#define LATTICE_CONCAT(a, b) LATTICE_CONCAT_INNER(a, b)
// Declares `lhs` from a Result expression, or returns its error.
#define LATTICE_ASSIGN_OR_RETURN(lhs, expr) \
  LATTICE_ASSIGN_OR_RETURN_IMPL(LATTICE_CONCAT(lattice_result_, __LINE__), lhs, expr)
#define LATTICE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).error();       \
  lhs = std::move(tmp).value()
