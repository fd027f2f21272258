#include "actors/vehicle/registry_shard.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include <spdlog/spdlog.h>

#include "actors/core/inspection.hpp"
#include "actors/core/storage_gate.hpp"
#include "actors/placement/stable_hash.hpp"

namespace convoy {

namespace {

using op = registry_command::op;

registry_result failure(std::string why) {
  return {false, std::move(why), {}};
}

// The cached record of vin, read from storage on first use.
vehicle_record* find_vehicle(registry_shard_state& st, const std::string& vin) {
  if (auto it = st.vehicles.find(vin); it != st.vehicles.end()) return &it->second;
  if (!st.store) return nullptr;
  auto loaded = st.store->load_vehicle(vin);
  if (!loaded) return nullptr;
  return &st.vehicles.emplace(vin, std::move(*loaded)).first->second;
}

device_record* find_device(vehicle_record& v, std::string_view device_id) {
  auto it = std::find_if(v.devices.begin(), v.devices.end(),
                         [&](const device_record& d) { return d.device_id == device_id; });
  return it == v.devices.end() ? nullptr : &*it;
}

// A fingerprint may belong to one device of the registry only within its
// vehicle; across vehicles the certificate's identity (the VIN) differs.
bool fingerprint_in_use(const vehicle_record& v, const std::string& fingerprint) {
  return std::any_of(v.devices.begin(), v.devices.end(), [&](const device_record& d) {
    return d.fingerprint == fingerprint && d.status != device_status::replaced &&
           d.status != device_status::revoked;
  });
}

// Applies cmd to the vehicle (a copy), or says why it cannot. `affects`
// tells whether connected devices must check again.
registry_result apply(registry_shard_state& st, const registry_command& cmd, bool& affects,
                      bool& erase) {
  if (!valid_vin(cmd.vin)) return failure("invalid VIN '" + cmd.vin + "'");
  vehicle_record* existing = find_vehicle(st, cmd.vin);
  if (cmd.what == op::create_vehicle) {
    if (existing) return failure("vehicle " + cmd.vin + " exists");
    vehicle_record v;
    v.vin = cmd.vin;
    v.model = cmd.model;
    v.region = cmd.region;
    v.created_at = v.updated_at = now_ms();
    return {true, {}, std::move(v)};
  }
  if (!existing) return failure("vehicle " + cmd.vin + " not found");
  vehicle_record v = *existing;
  if (cmd.what == op::get_vehicle) return {true, {}, std::move(v)};
  v.updated_at = now_ms();
  switch (cmd.what) {
    case op::update_vehicle:
      if (!cmd.model.empty()) v.model = cmd.model;
      if (!cmd.region.empty() && cmd.region != v.region) {
        v.region = cmd.region;
        affects = true;  // {region} in access rules
      }
      break;
    case op::suspend_vehicle:
      affects = v.status != vehicle_status::suspended;
      v.status = vehicle_status::suspended;
      break;
    case op::activate_vehicle:
      v.status = vehicle_status::active;
      break;
    case op::delete_vehicle:
      affects = erase = true;
      break;
    case op::add_device: {
      if (cmd.device_id.empty()) return failure("a device needs a deviceId");
      if (find_device(v, cmd.device_id))
        return failure("device " + cmd.device_id + " of " + cmd.vin + " exists");
      std::string fingerprint = normalize_fingerprint(cmd.fingerprint);
      if (fingerprint.empty())
        return failure("fingerprint must be a SHA-256 fingerprint (64 hex digits)");
      if (fingerprint_in_use(v, fingerprint))
        return failure("that certificate is already registered for " + cmd.vin);
      v.devices.push_back({cmd.device_id, fingerprint, device_status::active, now_ms()});
      break;
    }
    case op::replace_device: {
      device_record* old = find_device(v, cmd.old_device_id);
      if (!old) return failure("device " + cmd.old_device_id + " of " + cmd.vin + " not found");
      if (cmd.device_id.empty()) return failure("the new device needs a deviceId");
      if (find_device(v, cmd.device_id))
        return failure("device " + cmd.device_id + " of " + cmd.vin + " exists");
      std::string fingerprint = normalize_fingerprint(cmd.fingerprint);
      if (fingerprint.empty())
        return failure("fingerprint must be a SHA-256 fingerprint (64 hex digits)");
      // The old part's certificate stops working at once, even though it is
      // still valid and unrevoked at its CA.
      old->status = device_status::replaced;
      if (fingerprint_in_use(v, fingerprint))
        return failure("that certificate is already registered for " + cmd.vin);
      v.devices.push_back({cmd.device_id, fingerprint, device_status::active, now_ms()});
      affects = true;
      break;
    }
    case op::suspend_device:
    case op::activate_device:
    case op::revoke_device: {
      device_record* d = find_device(v, cmd.device_id);
      if (!d) return failure("device " + cmd.device_id + " of " + cmd.vin + " not found");
      if (d->status == device_status::revoked || d->status == device_status::replaced)
        return failure("device " + cmd.device_id + " is " + std::string{to_string(d->status)} +
                       " for good");
      d->status = cmd.what == op::suspend_device  ? device_status::suspended
                  : cmd.what == op::revoke_device ? device_status::revoked
                                                  : device_status::active;
      affects = d->status != device_status::active;
      break;
    }
    case op::create_vehicle:
    case op::get_vehicle:
      break;
  }
  return {true, {}, std::move(v)};
}

// A refusal carries the vehicle's region too: without registry.required a
// refused check only fills {region} in access rules.
registry_verdict check(registry_shard_state& st, const registry_check& c) {
  const vehicle_record* v = find_vehicle(st, c.vin);
  if (!v) return {false, "vehicle " + c.vin + " is not registered", {}};
  if (v->status != vehicle_status::active)
    return {false, "vehicle " + c.vin + " is suspended", v->region};
  for (const auto& d : v->devices) {
    if (d.fingerprint != c.fingerprint) continue;
    if (d.status != device_status::active)
      return {false, "device " + d.device_id + " is " + std::string{to_string(d.status)},
              v->region};
    return {true, {}, v->region};
  }
  return {false, "this certificate is not registered for vehicle " + c.vin, v->region};
}

}  // namespace

std::string normalize_fingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out.size() == 64 ? out : std::string{};
}

bool valid_vin(std::string_view vin) {
  if (vin.empty() || vin.size() > 64) return false;
  return std::all_of(vin.begin(), vin.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// A page of this shard's vehicles: from storage, with what the cache holds
// newer (writes still on their way to disk) laid over it; without storage
// the cache is the registry.
vehicle_page page_of(registry_shard_state& st, const vehicle_page_request& r) {
  std::size_t limit = std::clamp<std::size_t>(r.limit, 1, 1000);
  auto owned = [&](std::string_view vin) {
    return placement::slice_of(vin, std::max<std::uint32_t>(r.shard_count, 1)) == r.shard_index;
  };
  auto wanted = [&](const vehicle_record& v) {
    return owned(v.vin) && (r.status.empty() || to_string(v.status) == r.status) &&
           (r.region.empty() || v.region == r.region);
  };
  std::map<std::string, vehicle_record> found;
  vehicle_page page;
  if (st.store) {
    bool more = false;
    for (auto& v : st.store->list_vehicles(r.after, limit, wanted, more))
      found.emplace(v.vin, std::move(v));
    page.more = more;
  }
  for (const auto& [vin, v] : st.vehicles) {
    if (vin <= r.after && !r.after.empty()) continue;
    if (wanted(v))
      found.insert_or_assign(vin, v);
    else
      found.erase(vin);
  }
  for (auto& [vin, v] : found) {
    if (page.vehicles.size() == limit) {
      page.more = true;
      break;
    }
    page.vehicles.push_back(std::move(v));
  }
  return page;
}

caf::behavior registry_shard(registry_shard_actor* self, store_ptr store, caf::actor gate) {
  self->state.store = std::move(store);
  self->state.gate = std::move(gate);
  return {
      [self](registry_listener& l) { self->state.listener = std::move(l.session_registry); },
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self](const registry_check& c) { return check(self->state, c); },
      [self](const vehicle_page_request& r) { return page_of(self->state, r); },
      [self](const registry_command& cmd) -> caf::result<registry_result> {
        auto& st = self->state;
        bool affects = false;
        bool erase = false;
        registry_result r = apply(st, cmd, affects, erase);
        if (!r.ok || cmd.what == op::get_vehicle) return r;
        // The cache takes the change at once, so the next command for this
        // vehicle builds on it and devices are checked against it; storage
        // writes are applied in the order submitted.
        if (erase)
          st.vehicles.erase(cmd.vin);
        else
          st.vehicles[cmd.vin] = r.vehicle;
        if (affects && st.listener) self->send(st.listener, vehicle_changed{cmd.vin});
        if (!st.store) return r;
        // Answered once durable: a provisioning tool that was told "done"
        // must find the vehicle after a crash. A write that fails drops the
        // cached record, so the next use reads what storage holds.
        auto ticket = next_write_ticket();
        auto done = gate_completion(st.gate, ticket);
        bool submitted = erase ? st.store->erase_vehicle(cmd.vin, std::move(done))
                               : st.store->save_vehicle(r.vehicle, std::move(done));
        if (!submitted) {
          st.vehicles.erase(cmd.vin);
          return failure("storage busy, try again");
        }
        auto promise = self->make_response_promise<registry_result>();
        auto lost = [self, vin = cmd.vin, promise]() mutable {
          self->state.vehicles.erase(vin);
          promise.deliver(failure("the change could not be stored"));
        };
        self->request(st.gate, caf::infinite, await_atom::value, ticket)
            .then(
                [promise, lost, r](bool stored) mutable {
                  if (!stored) {
                    lost();
                    return;
                  }
                  promise.deliver(r);
                },
                [lost](caf::error&) mutable { lost(); });
        return promise;
      },
  };
}

}  // namespace convoy
