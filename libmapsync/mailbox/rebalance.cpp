// rebalance.cpp - see rebalance.h.
#include "libmapsync/mailbox/rebalance.h"

#include <algorithm>
#include <cmath>

namespace mapsync {

RebalancePlan plan_rebalance(const std::vector<RebalanceBackend>& backends, const std::vector<RebalanceUser>& users,
                             RebalancePolicy policy, unsigned max_moves, std::uint64_t max_bytes) {
  RebalancePlan plan;
  const bool by_count = policy == RebalancePolicy::count;
  auto unit = [&](const RebalanceUser& u) { return by_count ? 1.0 : static_cast<double>(u.bytes); };
  double weights = 0, total = 0;
  std::map<std::uint32_t, std::vector<const RebalanceUser*>> on;  // back end -> its users, cheapest move last
  for (const auto& b : backends) {
    weights += std::max(0.0, b.weight);
    plan.load_before[b.id] = 0;
  }
  for (const auto& u : users) {
    if (!plan.load_before.count(u.backend_id)) continue;  // on no known back end: not ours to move
    plan.load_before[u.backend_id] += unit(u);
    total += unit(u);
    on[u.backend_id].push_back(&u);
  }
  plan.load_after = plan.load_before;
  if (weights <= 0 || total <= 0) return plan;
  for (const auto& b : backends) plan.share[b.id] = total * std::max(0.0, b.weight) / weights;
  for (auto& [id, list] : on)
    // Count: the smallest mailbox is the cheapest move (ties: the newest account).
    // Quota: the largest first, so few moves carry the surplus.
    std::sort(list.begin(), list.end(), [&](const RebalanceUser* a, const RebalanceUser* b) {
      if (a->bytes != b->bytes) return by_count ? a->bytes > b->bytes : a->bytes < b->bytes;
      return a->account_id < b->account_id;
    });
  auto& load = plan.load_after;
  for (;;) {
    std::uint32_t donor = 0, receiver = 0;
    double surplus = 0, deficit = 0;
    for (const auto& b : backends) {
      const double over = load[b.id] - plan.share[b.id];
      if (over > surplus && !on[b.id].empty()) surplus = over, donor = b.id;
      if (b.weight > 0 && -over > deficit) deficit = -over, receiver = b.id;
    }
    if (!donor || !receiver) break;
    // A user of size u moved from a back end s over its share to one d under it changes
    // their summed distance from the shares by s + d - |s - u| - |d - u|: pick the user
    // that gains most (ties: the smaller mailbox), and stop when none gains.
    auto& list = on[donor];
    auto gain = [&](double u) { return surplus + deficit - std::abs(surplus - u) - std::abs(deficit - u); };
    auto pick = list.end();
    if (by_count) {
      if (gain(1) > 1e-9) pick = std::prev(list.end());  // the cheapest move: sorted last
    } else {
      double best = 1e-9;
      for (auto it = list.begin(); it != list.end(); ++it) {
        const double g = gain(unit(**it));
        if (g > best || (g == best && pick != list.end() && (*it)->bytes < (*pick)->bytes)) best = g, pick = it;
      }
    }
    if (pick == list.end()) break;
    const RebalanceUser& u = **pick;
    if (plan.moves.size() >= max_moves || (max_bytes && plan.bytes + u.bytes > max_bytes)) {
      plan.limited = true;
      break;
    }
    plan.moves.push_back({u.account_id, u.uid, donor, receiver, u.bytes});
    plan.bytes += u.bytes;
    load[donor] -= unit(u);
    load[receiver] += unit(u);
    list.erase(pick);
  }
  return plan;
}

}  // namespace mapsync
