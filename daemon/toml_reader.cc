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

}  // namespace

Result<TomlReader> TomlReader::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open config file '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return FromString(text.str(), path);
}

Result<TomlReader> TomlReader::FromString(std::string_view text, std::string source_name) {
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
