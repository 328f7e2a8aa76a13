// rebalance.h - which users move where to even out the back ends: the plan, without I/O.
//
// Each back end has a share of the total load (mailboxes, or quota used) in proportion to
// its weight (cyrus.weights; with none given every enabled back end weighs 1; a disabled
// back end, or one weighing 0, gets no share and is drained). Users move from the back end
// most over its share to the one most under it while a move brings both nearer to their
// shares, within the run's limits. Count policy moves the smallest mailboxes first (the
// same evening-out for less copying); quota policy the largest that still fit.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "libmapsync/mailbox/options.h"

namespace mapsync {

struct RebalanceBackend {
  std::uint32_t id = 0;
  std::string name;
  double weight = 1;  // 0: gets no share
};

struct RebalanceUser {
  std::uint32_t account_id = 0;
  std::string uid;
  std::uint32_t backend_id = 0;
  std::uint64_t bytes = 0;  // quota used (0 when the mailbox has no quota root)
};

struct PlannedMove {
  std::uint32_t account_id = 0;
  std::string uid;
  std::uint32_t from = 0, to = 0;
  std::uint64_t bytes = 0;
};

struct RebalancePlan {
  std::vector<PlannedMove> moves;
  std::map<std::uint32_t, double> load_before, load_after, share;  // by back end id
  std::uint64_t bytes = 0;                                         // of the planned moves
  bool limited = false;  // max_moves or max_bytes stopped it before the back ends were even
};

RebalancePlan plan_rebalance(const std::vector<RebalanceBackend>& backends, const std::vector<RebalanceUser>& users,
                             RebalancePolicy policy, unsigned max_moves, std::uint64_t max_bytes);

}  // namespace mapsync
