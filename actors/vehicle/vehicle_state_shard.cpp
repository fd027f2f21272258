#include "actors/vehicle/vehicle_state_shard.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"

namespace convoy {

namespace {

using namespace std::chrono_literals;

vehicle_state* state_of(vehicle_state_shard_state& st, const std::string& vin, bool create) {
  if (auto it = st.cache.find(vin); it != st.cache.end()) return &it->second;
  std::optional<vehicle_state> loaded;
  if (st.store) loaded = st.store->load_vehicle_state(vin);
  if (!loaded && !create) return nullptr;
  if (st.cache.size() >= st.max_cached) {
    // Dropping a state with unsaved changes would lose them: pick a clean one.
    for (auto it = st.cache.begin(); it != st.cache.end(); ++it)
      if (!st.dirty.count(it->first)) {
        st.cache.erase(it);
        break;
      }
  }
  if (!loaded) {
    loaded.emplace();
    loaded->vin = vin;
  }
  return &st.cache.emplace(vin, std::move(*loaded)).first->second;
}

void flush(vehicle_state_shard_actor* self) {
  auto& st = self->state;
  st.flush_armed = false;
  if (!st.store) {
    st.dirty.clear();
    return;
  }
  for (auto it = st.dirty.begin(); it != st.dirty.end();) {
    auto state = st.cache.find(*it);
    if (state == st.cache.end() || st.store->save_vehicle_state(state->second, [](bool) {})) {
      it = st.dirty.erase(it);
    } else {
      // Storage busy: this one waits for the next flush.
      metrics::add(counter::refused_storage_busy);
      ++it;
    }
  }
  if (!st.dirty.empty()) {
    st.flush_armed = true;
    self->delayed_send(self, 1s, caf::atom("flush"));
  }
}

void apply(vehicle_state_shard_actor* self, const app_message& m) {
  auto& st = self->state;
  epoch_ms at = m.published_us != 0 ? m.published_us / 1000 : now_ms();
  auto reading = read_telemetry(m, at);
  if (reading.vin.empty()) return;
  auto* state = state_of(st, reading.vin, true);
  for (auto& f : reading.fields) {
    auto it =
        std::lower_bound(state->fields.begin(), state->fields.end(), f.name,
                         [](const state_field& a, const std::string& n) { return a.name < n; });
    if (it != state->fields.end() && it->name == f.name) {
      *it = f;
    } else if (state->fields.size() < st.max_fields) {
      state->fields.insert(it, f);
    } else {
      metrics::add(counter::dropped_state_fields);
      continue;
    }
    state->history.push_back(std::move(f));
  }
  if (state->history.size() > st.history_size)
    state->history.erase(state->history.begin(),
                         state->history.begin() +
                             static_cast<std::ptrdiff_t>(state->history.size() - st.history_size));
  state->updated_at = std::max(state->updated_at, at);
  st.dirty.insert(reading.vin);
  if (!st.flush_armed) {
    st.flush_armed = true;
    self->delayed_send(self, 1s, caf::atom("flush"));
  }
}

}  // namespace

caf::behavior vehicle_state_shard(vehicle_state_shard_actor* self, std::uint32_t, store_ptr store,
                                  std::size_t history_size, std::size_t max_cached,
                                  inflow_ptr inflow) {
  auto& st = self->state;
  st.inflow = std::move(inflow);
  st.store = std::move(store);
  st.history_size = std::max<std::size_t>(history_size, 1);
  st.max_cached = std::max<std::size_t>(max_cached, 1);
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    flush(self);  // what changed in the last second
    self->quit(msg.reason);
  });
  return {
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self](const telemetry_forward& f) {
        self->state.inflow->give_back();
        apply(self, *f.msg);
      },
      [self](const vehicle_state_request& r) {
        auto* state = state_of(self->state, r.vin, false);
        return state ? *state : vehicle_state{};
      },
      [self](caf::atom_value a) {
        if (a == caf::atom("flush")) flush(self);
      },
  };
}

}  // namespace convoy
