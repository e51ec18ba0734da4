#pragma once

// TomlReader: typed, strict reading of a TOML config. Every key read is recorded,
// so after reading, Finish() reports any key the program does not know (typos
// must not pass silently). Errors name the file, the key and what was wrong:
//   "configs/lab/x.toml: [algorithm].lr: want a number, got string".
//
// Thread safety: not thread-safe.

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "common/status.h"

namespace sotto::daemon {

class TomlReader {
 public:
  // Parses `path`; kNotFound / kInvalidArgument (with line and column) on failure.
  static Result<TomlReader> FromFile(const std::string& path);
  static Result<TomlReader> FromString(std::string_view text, std::string source_name);

  // Each getter leaves `*out` unchanged when the key is absent.
  Status Get(std::string_view section, std::string_view key, std::string* out);
  Status Get(std::string_view section, std::string_view key, double* out);
  Status Get(std::string_view section, std::string_view key, std::int64_t* out);
  Status Get(std::string_view section, std::string_view key, int* out);
  Status Get(std::string_view section, std::string_view key, std::uint64_t* out);
  Status Get(std::string_view section, std::string_view key, bool* out);

  // kInvalidArgument naming every section or key present in the file but never read.
  Status Finish() const;

  // Every key a reading pass asked for, in order: the schema of a config, from the
  // same code that reads it (used to make a flag of every key, and for docs).
  struct KeyInfo {
    std::string section;
    std::string key;
    std::string type;           // "string", "number", "integer", "boolean".
    std::string default_value;  // The value before reading, as TOML would write it.
  };
  const std::vector<KeyInfo>& keys() const { return keys_; }

  // Sets section.key to `value` (parsed as the key's TOML type `type`), overriding the
  // file. kInvalidArgument when the value does not parse as that type.
  Status Override(const std::string& section, const std::string& key, const std::string& type,
                  const std::string& value);

  const std::string& source() const { return source_; }

 private:
  TomlReader(toml::table table, std::string source) : table_(std::move(table)), source_(std::move(source)) {}
  const toml::node* Find(std::string_view section, std::string_view key, const char* type,
                         std::string default_value);
  Status TypeError(std::string_view section, std::string_view key, const char* want,
                   const toml::node& node) const;

  toml::table table_;
  std::string source_;
  std::set<std::string> known_;  // "section.key" and "section".
  std::vector<KeyInfo> keys_;
};

}  // namespace sotto::daemon
