// `convoy ctl vehicles`, `devices` and `state`: the device registry and the
// vehicles' last known state.

#include <iostream>
#include <memory>
#include <tuple>

#include <CLI/CLI.hpp>

#include "runtime/ctl/area.hpp"

namespace convoy::ctl {

namespace {

struct vehicle_args {
  std::string vin, model, region, device, new_device, fingerprint;
};

void print_vehicle(const json& v) {
  print_fields(v, {{"vin", "vin"},
                   {"model", "model"},
                   {"region", "region"},
                   {"status", "status"},
                   {"created", "createdAt"},
                   {"updated", "updatedAt"}});
  if (!v.contains("devices") || v["devices"].empty()) return;
  std::cout << "\n";
  print_rows(v["devices"],
             {{"DEVICE", "deviceId"}, {"STATUS", "status"}, {"FINGERPRINT", "fingerprint"}});
}

std::string vehicle_path(const std::string& vin) {
  return "/api/v1/vehicles/" + encode(vin);
}

void add_vehicles(CLI::App& ctl, command_set& set, const std::shared_ptr<vehicle_args>& v) {
  auto* vehicles = ctl.add_subcommand("vehicles", "The device registry: vehicles");
  vehicles->require_subcommand(1);
  auto v_list = std::make_shared<listing>();
  auto* v_ls = vehicles->add_subcommand("list", "Registered vehicles, in VIN order");
  v_ls->add_option("--status", v_list->prefix, "active or suspended");
  v_ls->add_option("--region", v_list->identity, "Only this region");
  v_ls->add_option("--limit", v_list->limit, "Per page (1-1000)")->capture_default_str();
  v_ls->add_flag("--all", v_list->all, "Every page");
  set.add(v_ls, [v_list](session& s) {
    json data = s.list("/api/v1/vehicles",
                       {{"status", v_list->prefix},
                        {"region", v_list->identity},
                        {"limit", std::to_string(v_list->limit)}},
                       v_list->all);
    output(s, data, [](const json& d) {
      json rows = json::array();
      for (const auto& v : d) {
        json row = v;
        row["deviceCount"] = v["devices"].size();
        rows.push_back(std::move(row));
      }
      print_rows(rows, {{"VIN", "vin"},
                        {"MODEL", "model"},
                        {"REGION", "region"},
                        {"STATUS", "status"},
                        {"DEVICES", "deviceCount"},
                        {"UPDATED", "updatedAt"}});
    });
  });
  auto* v_create = vehicles->add_subcommand("create", "Register a vehicle");
  v_create->add_option("vin", v->vin, "VIN")->required();
  v_create->add_option("--model", v->model, "Model");
  v_create->add_option("--region", v->region, "Region (feeds {region} in access rules)");
  set.add(v_create, [v](session& s) {
    json body{{"vin", v->vin}};
    if (!v->model.empty()) body["model"] = v->model;
    if (!v->region.empty()) body["region"] = v->region;
    output(s, s.call("POST", "/api/v1/vehicles", body), print_vehicle);
  });
  auto* v_update = vehicles->add_subcommand("update", "Change a vehicle's model or region");
  v_update->add_option("vin", v->vin, "VIN")->required();
  v_update->add_option("--model", v->model, "Model");
  v_update->add_option("--region", v->region, "Region");
  set.add(v_update, [v](session& s) {
    json body = json::object();
    if (!v->model.empty()) body["model"] = v->model;
    if (!v->region.empty()) body["region"] = v->region;
    output(s, s.call("PATCH", vehicle_path(v->vin), body), print_vehicle);
  });
  for (auto [name, help, method, suffix] :
       {std::tuple{"get", "A vehicle and its devices", "GET", ""},
        {"suspend", "Suspend a vehicle (its devices are disconnected)", "POST", "/suspend"},
        {"activate", "Activate a suspended vehicle", "POST", "/activate"},
        {"delete", "Delete a vehicle", "DELETE", ""}}) {
    auto* app = vehicles->add_subcommand(name, help);
    app->add_option("vin", v->vin, "VIN")->required();
    set.add(app, [v, method = std::string{method}, suffix = std::string{suffix}](session& s) {
      json answer = s.call(method, vehicle_path(v->vin) + suffix,
                           method == "POST" ? json::object() : json(nullptr));
      if (answer.is_null()) {
        std::cout << "deleted " << v->vin << "\n";
        return;
      }
      output(s, answer, print_vehicle);
    });
  }
}

void add_devices(CLI::App& ctl, command_set& set, const std::shared_ptr<vehicle_args>& v) {
  auto* devices = ctl.add_subcommand("devices", "The device registry: a vehicle's devices");
  devices->require_subcommand(1);
  auto* d_add = devices->add_subcommand("add", "Add a device with its certificate fingerprint");
  d_add->add_option("vin", v->vin, "VIN")->required();
  d_add->add_option("device_id", v->device, "Device id")->required();
  d_add->add_option("fingerprint", v->fingerprint, "SHA-256 of its certificate")->required();
  set.add(d_add, [v](session& s) {
    output(s,
           s.call("POST", vehicle_path(v->vin) + "/devices",
                  {{"deviceId", v->device}, {"fingerprint", v->fingerprint}}),
           print_vehicle);
  });
  auto* d_replace = devices->add_subcommand("replace", "Replace a device (part replacement)");
  d_replace->add_option("vin", v->vin, "VIN")->required();
  d_replace->add_option("old_device_id", v->device, "The device replaced")->required();
  d_replace->add_option("new_device_id", v->new_device, "The new device")->required();
  d_replace->add_option("fingerprint", v->fingerprint, "SHA-256 of its certificate")->required();
  set.add(d_replace, [v](session& s) {
    output(s,
           s.call("POST", vehicle_path(v->vin) + "/devices/" + encode(v->device) + "/replace",
                  {{"deviceId", v->new_device}, {"fingerprint", v->fingerprint}}),
           print_vehicle);
  });
  for (auto [name, help] : {std::pair{"suspend", "Suspend a device (it is disconnected)"},
                            {"activate", "Activate a suspended device"},
                            {"revoke", "Revoke a device for good"}}) {
    auto* app = devices->add_subcommand(name, help);
    app->add_option("vin", v->vin, "VIN")->required();
    app->add_option("device_id", v->device, "Device id")->required();
    set.add(app, [v, name = std::string{name}](session& s) {
      output(s,
             s.call("POST", vehicle_path(v->vin) + "/devices/" + encode(v->device) + "/" + name,
                    json::object()),
             print_vehicle);
    });
  }
}

}  // namespace

void add_vehicle_commands(CLI::App& ctl, command_set& set) {
  auto v = std::make_shared<vehicle_args>();
  add_vehicles(ctl, set, v);
  add_devices(ctl, set, v);

  auto* state = ctl.add_subcommand("state", "A vehicle's last known state, field by field");
  state->add_option("vin", v->vin, "VIN")->required();
  set.add(state, [v](session& s) {
    output(s, s.call("GET", vehicle_path(v->vin) + "/state"), [](const json& st) {
      print_fields(st, {{"vin", "vin"}, {"updated", "updatedAt"}});
      std::cout << "\n";
      json rows = json::array();
      for (const auto& [name, f] : st["fields"].items())
        rows.push_back({{"field", name},
                        {"value", f["value"].is_string() ? f["value"] : json(f["value"].dump())},
                        {"at", f["at"]}});
      print_rows(rows, {{"FIELD", "field"}, {"VALUE", "value"}, {"AT", "at"}});
    });
  });
}

}  // namespace convoy::ctl
