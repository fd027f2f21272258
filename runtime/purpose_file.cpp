#include "runtime/purpose_file.hpp"

#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace convoy::runtime {

namespace {

[[noreturn]] void fail(const std::string& name, const toml::node* at, const std::string& what) {
  std::string where = name;
  if (at && at->source().begin.line > 0) where += ":" + std::to_string(at->source().begin.line);
  throw purpose_file_error(where + ": " + what);
}

std::vector<std::string> strings(const std::string& name, const toml::table& t,
                                 const std::string& where, std::string_view key) {
  std::vector<std::string> out;
  const toml::node* node = t.get(key);
  if (!node) return out;
  const toml::array* list = node->as_array();
  if (!list) fail(name, node, "'" + where + std::string{key} + "' must be an array of strings");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto* text = list->get(i)->as_string();
    if (!text)
      fail(name, list->get(i),
           "'" + where + std::string{key} + "[" + std::to_string(i) + "]' must be a string");
    out.push_back(text->get());
  }
  return out;
}

}  // namespace

consent_catalog parse_purpose_file(std::string_view text, const std::string& name) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw purpose_file_error(name + ":" + std::to_string(e.source().begin.line) + ":" +
                             std::to_string(e.source().begin.column) + ": " +
                             std::string{e.description()});
  }
  for (const auto& [key, value] : root)
    if (key.str() != "purposes")
      fail(name, &value, "unknown table '" + std::string{key.str()} + "' (known: purposes)");
  const toml::table* purposes = root["purposes"].as_table();
  if (!purposes || purposes->empty()) fail(name, nullptr, "no [purposes.NAME] tables");
  std::vector<consent_purpose> out;
  for (const auto& [key, value] : *purposes) {
    std::string where = "purposes." + std::string{key.str()} + ".";
    const toml::table* t = value.as_table();
    if (!t) fail(name, &value, "'purposes." + std::string{key.str()} + "' must be a table");
    for (const auto& [k, v] : *t)
      if (k.str() != "description" && k.str() != "topics" && k.str() != "commands")
        fail(name, &v,
             "unknown key '" + where + std::string{k.str()} +
                 "' (known: description, topics, commands)");
    consent_purpose p;
    p.name = std::string{key.str()};
    if (const auto* d = t->get("description")) {
      if (!d->as_string()) fail(name, d, "'" + where + "description' must be a string");
      p.description = d->as_string()->get();
    }
    p.topics = strings(name, *t, where, "topics");
    p.commands = strings(name, *t, where, "commands");
    if (p.topics.empty() && p.commands.empty())
      fail(name, &value, "'purposes." + p.name + "' covers nothing: give topics or commands");
    if (auto why = consent_catalog::check(p); !why.empty())
      fail(name, &value, "'purposes." + p.name + "': " + why);
    out.push_back(std::move(p));
  }
  return consent_catalog{std::move(out)};
}

consent_catalog load_purpose_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw purpose_file_error("consent.purposes_file " + path + " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return parse_purpose_file(text.str(), path);
}

}  // namespace convoy::runtime
