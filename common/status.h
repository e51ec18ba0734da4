#pragma once

// Status and Result<T>: how every layer reports expected, recoverable failures.
// Broken invariants use SOTTO_CHECK (common/check.h) instead.

#include <string>
#include <utility>
#include <variant>

#include "common/check.h"

namespace sotto {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // Malformed input: config, API arguments, peer message fields.
  kNotFound,          // Unknown peer, round, file or key.
  kUnavailable,       // Peer unreachable, queue full, or transport stopped; retry may help.
  kDeadlineExceeded,  // Gave up waiting for peers.
  kCorrupted,         // Bytes from the network or disk failed to decode or verify.
  kCancelled,         // Shutdown in progress.
  kInternal,          // A bug or an unexpected library failure; see message.
};

// "INVALID_ARGUMENT", "CORRUPTED", ...
const char* StatusCodeName(StatusCode code);

// OK, or an error code plus a message for humans. Const methods are thread-safe.
class [[nodiscard]] Status {
 public:
  Status() = default;  // OK.
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;  // "OK" or "UNAVAILABLE: peer 7 ..."

  // Returns a copy whose message is "context: message". OK stays OK.
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}
inline Status NotFound(std::string message) {
  return Status(StatusCode::kNotFound, std::move(message));
}
inline Status Unavailable(std::string message) {
  return Status(StatusCode::kUnavailable, std::move(message));
}
inline Status Corrupted(std::string message) {
  return Status(StatusCode::kCorrupted, std::move(message));
}
inline Status Internal(std::string message) {
  return Status(StatusCode::kInternal, std::move(message));
}

// A T, or a non-OK Status explaining why there is none. The member names follow
// std::expected (C++23) so a later switch is mechanical.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design.
  Result(Status error) : state_(std::move(error)) {  // NOLINT: implicit by design.
    SOTTO_CHECK(!std::get<1>(state_).ok()) << "Result built from an OK Status";
  }

  bool has_value() const { return state_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    SOTTO_CHECK(has_value()) << "Result::value() on error: " << std::get<1>(state_).ToString();
    return std::get<0>(state_);
  }
  const T& value() const& {
    SOTTO_CHECK(has_value()) << "Result::value() on error: " << std::get<1>(state_).ToString();
    return std::get<0>(state_);
  }
  T&& value() && {
    SOTTO_CHECK(has_value()) << "Result::value() on error: " << std::get<1>(state_).ToString();
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Status& error() const {
    SOTTO_CHECK(!has_value()) << "Result::error() on a value";
    return std::get<1>(state_);
  }
  // OK when a value is held, else the error.
  Status status() const { return has_value() ? Status() : std::get<1>(state_); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace sotto

#define SOTTO_STATUS_CONCAT_INNER_(a, b) a##b
#define SOTTO_STATUS_CONCAT_(a, b) SOTTO_STATUS_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the enclosing function if it is not OK.
#define SOTTO_RETURN_IF_ERROR(expr)             \
  do {                                          \
    ::sotto::Status sotto_status_ = (expr);     \
    if (!sotto_status_.ok()) return sotto_status_; \
  } while (0)

// `lhs = value of expr`, or returns its error from the enclosing function.
#define SOTTO_ASSIGN_OR_RETURN(lhs, expr) \
  SOTTO_ASSIGN_OR_RETURN_IMPL_(SOTTO_STATUS_CONCAT_(sotto_result_, __LINE__), lhs, expr)
#define SOTTO_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                 \
  if (!result.has_value()) return result.error();       \
  lhs = std::move(result).value()
