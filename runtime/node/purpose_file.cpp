#include "runtime/node/purpose_file.hpp"

#include "runtime/node/toml_file.hpp"

namespace convoy::runtime {

namespace {

[[noreturn]] void fail(const std::string& name, const toml::node* at, const std::string& what) {
  toml_fail<purpose_file_error>(name, at, what);
}

std::vector<std::string> strings(const std::string& name, const toml::table& t,
                                 const std::string& where, std::string_view key) {
  return toml_strings<purpose_file_error>(name, t, where, key);
}

}  // namespace

consent_catalog parse_purpose_file(std::string_view text, const std::string& name) {
  toml::table root = toml_parse<purpose_file_error>(text, name);
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
  return parse_purpose_file(
      toml_read<purpose_file_error>(path, "consent.purposes_file " + path + " cannot be read"),
      path);
}

}  // namespace convoy::runtime
