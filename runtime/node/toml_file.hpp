#pragma once

// Reading the node's own TOML files (consent purposes, routing rules) with
// errors that name the file and line: each file type throws its own error
// type, so these helpers take it as a template argument.

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace convoy::runtime {

template <class Error>
[[noreturn]] void toml_fail(const std::string& file, const toml::node* at,
                            const std::string& what) {
  std::string where = file;
  if (at && at->source().begin.line > 0) where += ":" + std::to_string(at->source().begin.line);
  throw Error(where + ": " + what);
}

template <class Error>
toml::table toml_parse(std::string_view text, const std::string& file) {
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    throw Error(file + ":" + std::to_string(e.source().begin.line) + ":" +
                std::to_string(e.source().begin.column) + ": " + std::string{e.description()});
  }
}

// The array of strings at t[key] (empty when absent); `where` prefixes the
// key in errors ("purposes.location.").
template <class Error>
std::vector<std::string> toml_strings(const std::string& file, const toml::table& t,
                                      const std::string& where, std::string_view key) {
  std::vector<std::string> out;
  const toml::node* node = t.get(key);
  if (!node) return out;
  const toml::array* list = node->as_array();
  if (!list)
    toml_fail<Error>(file, node, "'" + where + std::string{key} + "' must be an array of strings");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto* s = list->get(i)->as_string();
    if (!s)
      toml_fail<Error>(
          file, list->get(i),
          "'" + where + std::string{key} + "[" + std::to_string(i) + "]' must be a string");
    out.push_back(s->get());
  }
  return out;
}

// The whole file; throws Error(what_if_missing) when it cannot be read.
template <class Error>
std::string toml_read(const std::string& path, const std::string& what_if_missing) {
  std::ifstream in(path);
  if (!in) throw Error(what_if_missing);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace convoy::runtime
