#pragma once

// The configuration reference (docs/config-reference.md), generated from the same
// key tables the config readers build (NodeConfigKeys(), LabConfigKeys()): every
// key with its flag, type and default, described by the trailing comment of that
// key in a commented example file (configs/node.toml, configs/lab/quickstart.toml).
// `sotto config-reference` prints it; a test keeps the committed copy in sync.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/toml_reader.h"

namespace sotto::daemon {

// "section.key" -> the comment after that key's line in a TOML example, with the
// comment lines that continue it (lines holding only a comment, indented to the same
// column) joined by spaces. Lines that are not `key = value  # comment` are skipped.
std::map<std::string, std::string> ExampleComments(std::string_view toml_text);

struct ConfigReferencePart {
  std::string title;     // "sotto node / sotto mesh"
  std::string intro;     // One paragraph.
  std::string example;   // Path shown to the reader, e.g. "configs/node.toml".
  std::vector<TomlReader::KeyInfo> keys;
  std::map<std::string, std::string> comments;  // From ExampleComments().
};

// Markdown: a heading per part, then per section a table of
// | flag | type | default | meaning |. Keys without a comment say "(undocumented)".
std::string ConfigReferenceMarkdown(const std::vector<ConfigReferencePart>& parts);

// The reference of the node and lab configs, with comments read from the examples
// under `source_dir` (configs/node.toml, configs/lab/quickstart.toml).
// kNotFound when an example is missing.
Result<std::string> BuildConfigReference(const std::string& source_dir);

}  // namespace sotto::daemon
