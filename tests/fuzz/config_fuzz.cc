// libFuzzer targets for the config parsers of daemon/ (one binary per parser, chosen
// by a SOTTO_FUZZ_* definition, as in decoder_fuzz.cc): node, lab and fedlab TOML.
// Configs are typed by users, not peers, but a typo must still give a message,
// never a crash. Input: the TOML text. The parsers read no files.

#include <cstdint>
#include <string_view>

#include "daemon/fed_lab_command.h"
#include "daemon/lab_config.h"
#include "daemon/node_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
#if defined(SOTTO_FUZZ_node_config)
  auto config = sotto::daemon::ParseNodeConfig(text, "fuzz.toml");
#elif defined(SOTTO_FUZZ_lab_config)
  auto config = sotto::daemon::ParseLabConfig(text, "fuzz.toml");
#elif defined(SOTTO_FUZZ_fedlab_config)
  auto config = sotto::daemon::ParseFedLabConfig(text, "fuzz.toml");
#else
#error "define one SOTTO_FUZZ_<target>"
#endif
  // Errors name the source, as every config message must.
  if (!config.ok() && config.error().message().find("fuzz.toml") == std::string::npos) {
    __builtin_trap();
  }
  return 0;
}
