#include "daemon/toml_reader.h"

#include <cmath>
#include <fstream>
#include <sstream>

namespace sotto::daemon {

namespace {

const char* TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "number";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    default: return "date/time";
  }
}

std::string Qualified(std::string_view section, std::string_view key) {
  return "[" + std::string(section) + "]." + std::string(key);
}

// Outside strings and comments TOML is ASCII (bare keys are A-Za-z0-9_-). Debian's
// toml++ 3 reaches __builtin_unreachable() (undefined behaviour; found by fuzzing) when
// a character in U+00A1..U+0499, U+2C5E..U+3057 or U+FB26..U+FEFE follows a key
// (impl::is_non_ascii_horizontal_whitespace), so such text is refused here, with its
// position, before toml++ sees it; inside multi-line basic strings it tests
// characters for blanks too (after an escape, after a line-ending backslash), so
// non-ASCII is refused there as well. Other strings and comments may hold any UTF-8. A quote
// opens a string only where TOML lets one start (a line's first token, or after
// '=', '[', ',', '{' or '.'): inside a bare token (`8pro'x`) toml++ reads on as a
// value, and so does this check.
Status CheckAsciiOutsideStrings(std::string_view text, const std::string& source) {
  enum class In { kCode, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral } in = In::kCode;
  constexpr std::string_view kTripleDouble = "\"\"\"", kTripleSingle = "'''";
  std::size_t line = 1, column = 1;
  char last = '\n';     // The last character outside strings and comments, blanks aside.
  bool token = false;        // Inside a bare token: a key, or a value (toml++ reads on to a blank, ',', ']' or '}').
  bool token_value = false;  // The token started right after '=': a value.
  const auto starts = [&](std::size_t i, std::string_view what) { return text.substr(i, 3) == what; };
  for (std::size_t i = 0; i < text.size(); ++i, ++column) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      column = 0;
      if (in != In::kMultiBasic && in != In::kMultiLiteral) in = In::kCode;  // Single-line ones end (or are errors).
      if (in == In::kCode) last = '\n';
      token = false;
      continue;
    }
    switch (in) {
      case In::kCode: {
        if (c == '#') {
          in = In::kComment;
        } else if ((c == '"' || c == '\'') && !token && std::string_view("\n=[,{.").find(last) != std::string_view::npos) {
          const bool triple = starts(i, c == '"' ? kTripleDouble : kTripleSingle);
          in = c == '"' ? (triple ? In::kMultiBasic : In::kBasic) : (triple ? In::kMultiLiteral : In::kLiteral);
          if (triple) i += 2, column += 2;
        } else if (static_cast<unsigned char>(c) >= 0x80) {
          return InvalidArgument(source + ":" + std::to_string(line) + ":" + std::to_string(column) +
                                 ": a non-ASCII character outside a string or comment (keys are ASCII; quote them)");
        }
        const char before = last;
        if (c != ' ' && c != '\t' && c != '\r') last = c;
        if (token) {  // A value token runs on over '=' (toml++ reads `-='x` as one value); a key ends there.
          if (std::string_view(" \t\r,]}").find(c) != std::string_view::npos || (c == '=' && !token_value)) token = false;
        } else if (std::string_view("[{.\"'= \t\r,]}").find(c) == std::string_view::npos) {
          token = true;
          token_value = before == '=';
        }
        break;
      }
      case In::kComment:
        break;
      case In::kBasic:
        if (c == '\\') {
          if (i + 1 < text.size() && text[i + 1] != '\n') ++i, ++column;  // The escaped character.
        } else if (c == '"') {
          in = In::kCode;
          last = c;
        }
        break;
      case In::kLiteral:
        if (c == '\'') in = In::kCode, last = c;
        break;
      case In::kMultiBasic:
      case In::kMultiLiteral: {
        const bool basic = in == In::kMultiBasic;
        const char quote = basic ? '"' : '\'';
        if (basic && static_cast<unsigned char>(c) >= 0x80) {  // toml++ tests these for blanks too (escapes, '\' line ends).
          return InvalidArgument(source + ":" + std::to_string(line) + ":" + std::to_string(column) +
                                 ": a non-ASCII character in a multi-line basic string (\"\"\"...\"\"\"), which the TOML "
                                 "library mishandles; use a one-line \"string\" or a '''literal'''");
        }
        if (basic && c == '\\') {
          if (i + 1 < text.size() && text[i + 1] != '\n') ++i, ++column;  // A line-ending backslash leaves the newline.
        } else if (c == quote && starts(i, basic ? kTripleDouble : kTripleSingle)) {
          while (i + 1 < text.size() && text[i + 1] == quote) ++i, ++column;  // Up to two quotes before the end.
          in = In::kCode;
          last = quote;
        }
        break;
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<TomlReader> TomlReader::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open config file '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return FromString(text.str(), path);
}

Result<TomlReader> TomlReader::FromString(std::string_view text, std::string source_name) {
  SOTTO_RETURN_IF_ERROR(CheckAsciiOutsideStrings(text, source_name));
  try {
    toml::table table = toml::parse(text, source_name);
    return TomlReader(std::move(table), std::move(source_name));
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    return InvalidArgument(msg.str());
  }
}

const toml::node* TomlReader::Find(std::string_view section, std::string_view key,
                                   const char* type, std::string default_value) {
  known_.insert(std::string(section));
  if (known_.insert(std::string(section) + "." + std::string(key)).second) {
    keys_.push_back({std::string(section), std::string(key), type, std::move(default_value)});
  }
  const toml::table* t = table_[section].as_table();
  if (t == nullptr) return nullptr;
  return t->get(key);
}

Status TomlReader::TypeError(std::string_view section, std::string_view key, const char* want,
                             const toml::node& node) const {
  return InvalidArgument(source_ + ": " + Qualified(section, key) + ": want " + want + ", got " +
                         TypeName(node));
}

Status TomlReader::Get(std::string_view section, std::string_view key, std::string* out) {
  const toml::node* n = Find(section, key, "string", "\"" + *out + "\"");
  if (n == nullptr) return Status::Ok();
  if (!n->is_string()) return TypeError(section, key, "a string", *n);
  *out = n->as_string()->get();
  return Status::Ok();
}

Status TomlReader::Get(std::string_view section, std::string_view key, double* out) {
  std::ostringstream def;
  def << *out;
  const toml::node* n = Find(section, key, "number", def.str());
  if (n == nullptr) return Status::Ok();
  if (n->is_integer()) {
    *out = static_cast<double>(n->as_integer()->get());
  } else if (n->is_floating_point()) {
    *out = n->as_floating_point()->get();
  } else {
    return TypeError(section, key, "a number", *n);
  }
  if (!std::isfinite(*out)) {
    return InvalidArgument(source_ + ": " + Qualified(section, key) + ": want a finite number");
  }
  return Status::Ok();
}

Status TomlReader::Get(std::string_view section, std::string_view key, std::int64_t* out) {
  const toml::node* n = Find(section, key, "integer", std::to_string(*out));
  if (n == nullptr) return Status::Ok();
  if (!n->is_integer()) return TypeError(section, key, "an integer", *n);
  *out = n->as_integer()->get();
  return Status::Ok();
}

Status TomlReader::Get(std::string_view section, std::string_view key, int* out) {
  std::int64_t v = *out;
  SOTTO_RETURN_IF_ERROR(Get(section, key, &v));
  if (v < INT32_MIN || v > INT32_MAX) {
    return InvalidArgument(source_ + ": " + Qualified(section, key) + ": " + std::to_string(v) + " is out of range");
  }
  *out = static_cast<int>(v);
  return Status::Ok();
}

Status TomlReader::Get(std::string_view section, std::string_view key, std::uint64_t* out) {
  std::int64_t v = static_cast<std::int64_t>(*out);
  SOTTO_RETURN_IF_ERROR(Get(section, key, &v));
  if (v < 0) return InvalidArgument(source_ + ": " + Qualified(section, key) + ": must be >= 0");
  *out = static_cast<std::uint64_t>(v);
  return Status::Ok();
}

Status TomlReader::Get(std::string_view section, std::string_view key, bool* out) {
  const toml::node* n = Find(section, key, "boolean", *out ? "true" : "false");
  if (n == nullptr) return Status::Ok();
  if (!n->is_boolean()) return TypeError(section, key, "true or false", *n);
  *out = n->as_boolean()->get();
  return Status::Ok();
}

Status TomlReader::Override(const std::string& section, const std::string& key,
                            const std::string& type, const std::string& value) {
  const std::string where = "--" + section + "." + key;
  toml::table* t = table_[section].as_table();
  if (t == nullptr) {
    table_.insert_or_assign(section, toml::table{});
    t = table_[section].as_table();
  }
  if (type == "string") {
    t->insert_or_assign(key, value);
    return Status::Ok();
  }
  // Parse the value as TOML so numbers and booleans follow the file's rules.
  try {
    toml::table parsed = toml::parse("v = " + value);
    const toml::node* v = parsed.get("v");
    const bool fits = (type == "integer" && v->is_integer()) ||
                      (type == "number" && (v->is_integer() || v->is_floating_point())) ||
                      (type == "boolean" && v->is_boolean());
    if (!fits) return InvalidArgument(where + ": want " + (type == "number" ? "a number" : type == "integer" ? "an integer" : "true or false") + ", got '" + value + "'");
    if (v->is_integer()) t->insert_or_assign(key, v->as_integer()->get());
    if (v->is_floating_point()) t->insert_or_assign(key, v->as_floating_point()->get());
    if (v->is_boolean()) t->insert_or_assign(key, v->as_boolean()->get());
  } catch (const toml::parse_error&) {
    return InvalidArgument(where + ": cannot parse '" + value + "' as " + type);
  }
  return Status::Ok();
}

Status TomlReader::Finish() const {
  std::string unknown;
  for (const auto& [name, node] : table_) {
    const std::string section(name.str());
    if (!known_.count(section)) {
      unknown += (unknown.empty() ? "" : ", ") + ("[" + section + "]");
      continue;
    }
    if (const toml::table* t = node.as_table()) {
      for (const auto& [key, value] : *t) {
        if (!known_.count(section + "." + std::string(key.str()))) {
          unknown += (unknown.empty() ? "" : ", ") + Qualified(section, key.str());
        }
      }
    } else {
      unknown += (unknown.empty() ? "" : ", ") + section + " (keys belong in a [section])";
    }
  }
  if (!unknown.empty()) return InvalidArgument(source_ + ": unknown key(s): " + unknown);
  return Status::Ok();
}

}  // namespace sotto::daemon
