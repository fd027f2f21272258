#include "runtime/auth/access_file.hpp"

#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace convoy::runtime {

namespace {

[[noreturn]] void fail(const std::string& name, const toml::node* at, const std::string& what) {
  std::string where = name;
  if (at && at->source().begin.line > 0) where += ":" + std::to_string(at->source().begin.line);
  throw access_file_error(where + ": " + what);
}

void only_keys(const std::string& name, const toml::table& t, std::string_view table,
               std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : t) {
    bool known = false;
    for (auto a : allowed)
      known = known || key.str() == a;
    if (!known) {
      std::string list;
      for (auto a : allowed)
        list += (list.empty() ? "" : ", ") + std::string{a};
      fail(name, &value,
           "unknown key '" + std::string{table} + std::string{key.str()} + "' (known: " + list +
               ")");
    }
  }
}

std::vector<access_template> templates(const std::string& name, const toml::table& role,
                                       const std::string& where, std::string_view key) {
  std::vector<access_template> out;
  const toml::node* node = role.get(key);
  if (!node) return out;
  const toml::array* list = node->as_array();
  if (!list) fail(name, node, "'" + where + std::string{key} + "' must be an array of strings");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const toml::node& item = *list->get(i);
    const auto* text = item.as_string();
    std::string entry = where + std::string{key} + "[" + std::to_string(i) + "]";
    if (!text) fail(name, &item, "'" + entry + "' must be a string");
    access_template t{text->get()};
    if (!t.ok()) fail(name, &item, "'" + entry + "' (\"" + text->get() + "\"): " + t.error());
    out.push_back(std::move(t));
  }
  return out;
}

std::string role_name(const std::string& name, const toml::table& root, const toml::node& node,
                      const std::string& entry) {
  const auto* text = node.as_string();
  if (!text) fail(name, &node, "'" + entry + "' must be a role name");
  const toml::table* roles = root["roles"].as_table();
  if (!roles || !roles->contains(text->get()))
    fail(name, &node, "'" + entry + "' names role '" + text->get() + "', which is not defined");
  return text->get();
}

}  // namespace

access_policy parse_access_file(std::string_view text, const std::string& name) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw access_file_error(name + ":" + std::to_string(e.source().begin.line) + ":" +
                            std::to_string(e.source().begin.column) + ": " +
                            std::string{e.description()});
  }
  only_keys(name, root, "", {"assign", "users", "roles"});
  access_policy p;
  if (const toml::node* roles_node = root.get("roles")) {
    const toml::table* roles = roles_node->as_table();
    if (!roles) fail(name, roles_node, "'roles' must be a table of roles");
    for (const auto& [key, value] : *roles) {
      std::string where = "roles." + std::string{key.str()} + ".";
      const toml::table* role = value.as_table();
      if (!role) fail(name, &value, "'roles." + std::string{key.str()} + "' must be a table");
      only_keys(name, *role, where, {"client_ids", "publish", "subscribe"});
      access_role r;
      r.name = key.str();
      r.client_ids = templates(name, *role, where, "client_ids");
      for (const auto& t : r.client_ids)
        if (t.text().find('/') != std::string::npos)
          fail(name, role->get("client_ids"),
               "'" + where + "client_ids' holds a '/': client ids are not topics");
      r.publish = templates(name, *role, where, "publish");
      r.subscribe = templates(name, *role, where, "subscribe");
      p.roles.emplace(r.name, std::move(r));
    }
  }
  if (const toml::node* assign_node = root.get("assign")) {
    const toml::table* assign = assign_node->as_table();
    if (!assign) fail(name, assign_node, "'assign' must be a table");
    only_keys(name, *assign, "assign.", {"certificate", "password", "jwt", "anonymous"});
    if (const auto* n = assign->get("certificate"))
      p.certificate_role = role_name(name, root, *n, "assign.certificate");
    if (const auto* n = assign->get("jwt")) p.jwt_role = role_name(name, root, *n, "assign.jwt");
    if (const auto* n = assign->get("password"))
      p.password_role = role_name(name, root, *n, "assign.password");
    if (const auto* n = assign->get("anonymous"))
      p.anonymous_role = role_name(name, root, *n, "assign.anonymous");
  }
  if (const toml::node* users_node = root.get("users")) {
    const toml::table* users = users_node->as_table();
    if (!users) fail(name, users_node, "'users' must be a table of identity = role");
    for (const auto& [key, value] : *users)
      p.user_roles.emplace(std::string{key.str()},
                           role_name(name, root, value, "users." + std::string{key.str()}));
  }
  return p;
}

access_policy builtin_access_policy() {
  access_policy p;
  access_role everyone;
  everyone.name = "everyone";
  everyone.all_but_control = true;
  p.roles.emplace(everyone.name, std::move(everyone));
  p.certificate_role = p.password_role = p.jwt_role = p.anonymous_role = "everyone";
  return p;
}

access_policy load_access_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw access_file_error("auth.acl_file '" + path + "': cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_access_file(text.str(), path);
}

}  // namespace convoy::runtime
