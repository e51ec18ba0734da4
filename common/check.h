#pragma once

// SOTTO_CHECK(cond) << "message": aborts with file, line and message when a broken
// invariant (a bug) is found. On in every build type. Never use it on data that
// came from a peer or a file: validate those and return a Status.

#include <sstream>

namespace sotto::detail {

// Collects the streamed message and aborts in its destructor.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  CheckFailure(const CheckFailure&) = delete;
  CheckFailure& operator=(const CheckFailure&) = delete;

  template <typename T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Lets `cond ? (void)0 : Voidify() & CheckFailure(...) << x` type-check.
struct Voidify {
  void operator&(const CheckFailure&) {}
};

}  // namespace sotto::detail

#define SOTTO_CHECK(cond)                 \
  (cond) ? (void)0                        \
         : ::sotto::detail::Voidify() &   \
               ::sotto::detail::CheckFailure(__FILE__, __LINE__, #cond)

#ifdef NDEBUG
#define SOTTO_DCHECK(cond) \
  true ? (void)0 : ::sotto::detail::Voidify() & ::sotto::detail::CheckFailure(__FILE__, __LINE__, #cond)
#else
#define SOTTO_DCHECK(cond) SOTTO_CHECK(cond)
#endif
