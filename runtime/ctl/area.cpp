// What the areas of `convoy ctl` share: the session with the node, and the
// tables and key-value lists they print.

#include "runtime/ctl/area.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

#include <CLI/CLI.hpp>

#include "runtime/ctl/table.hpp"

namespace convoy::ctl {

session::session(const options& o)
    : opts_(o),
      client_(o.url, o.api_key, o.token,
              std::chrono::milliseconds(static_cast<long>(o.timeout_s * 1000))) {}

json session::call(const std::string& method, const std::string& target, const json& body) {
  auto r = client_.call(
      method, target,
      body.is_null() ? std::string{} : body.dump(-1, ' ', false, json::error_handler_t::replace));
  json answer = r.body.empty() ? json(nullptr) : json::parse(r.body, nullptr, false);
  if (r.status >= 200 && r.status < 300) return answer;
  std::string message = answer.is_object() && answer.contains("message")
                            ? answer["message"].get<std::string>()
                            : r.body;
  throw refused{r.status, message};
}

json session::list(const std::string& path, std::vector<std::pair<std::string, std::string>> query,
                   bool all) {
  json data = json::array();
  std::string after;
  for (;;) {
    std::string target = path;
    char sep = '?';
    for (const auto& [k, v] : query) {
      if (v.empty()) continue;
      target += sep + k + "=" + encode(v);
      sep = '&';
    }
    if (!after.empty()) target += sep + std::string{"after="} + encode(after);
    json page = call("GET", target);
    for (auto& item : page["data"])
      data.push_back(std::move(item));
    if (!all || page["next"].is_null()) return data;
    after = page["next"].get<std::string>();
  }
}

const command_set::run_fn* command_set::parsed() const {
  for (const auto& c : commands_)
    if (c.app->parsed()) return &c.run;
  return nullptr;
}

std::string encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

std::string text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

// Times the API gives in Unix milliseconds, as UTC.
std::string timestamp(const json& v) {
  if (!v.is_number_integer()) return text(v);
  std::time_t seconds = static_cast<std::time_t>(v.get<std::int64_t>() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%d %H:%M:%S UTC", &utc);
  return out;
}

// A timeline's event times, to the millisecond: events of one command are
// often milliseconds apart.
std::string precise_timestamp(const json& v) {
  if (!v.is_number_integer()) return text(v);
  auto ms = v.get<std::int64_t>();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char out[40];
  std::size_t n = std::strftime(out, sizeof out, "%H:%M:%S", &utc);
  std::snprintf(out + n, sizeof out - n, ".%03d", static_cast<int>(ms % 1000));
  return out;
}

}  // namespace

std::string cell(const json& object, const std::string& key) {
  if (!object.contains(key)) return "-";
  if (key == "at") return precise_timestamp(object[key]);
  if (key.size() > 2 && key.ends_with("At")) return timestamp(object[key]);
  return text(object[key]);
}

void print_fields(const json& object, const fields& labelled) {
  std::size_t width = 0;
  for (const auto& [label, key] : labelled)
    if (object.contains(key)) width = std::max(width, label.size());
  for (const auto& [label, key] : labelled) {
    if (!object.contains(key)) continue;
    std::cout << label << ":" << std::string(width - label.size() + 1, ' ') << cell(object, key)
              << "\n";
  }
}

void print_rows(const json& data, const fields& columns) {
  std::vector<std::string> header;
  for (const auto& c : columns)
    header.push_back(c.first);
  table t(header);
  for (const auto& item : data) {
    std::vector<std::string> row;
    for (const auto& c : columns)
      row.push_back(cell(item, c.second));
    t.add(std::move(row));
  }
  t.print(std::cout);
}

void output(session& s, const json& j, const std::function<void(const json&)>& show) {
  if (s.json_output())
    std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  else
    show(j);
}

}  // namespace convoy::ctl
