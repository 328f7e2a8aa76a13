// adsync.h - reconciling AD-sourced accounts in the user database with Active Directory.
//
// Shaped as inspect -> wanted -> diff -> apply (ldap2pg's shape):
//   inspect  read_ad_db_state() reads the accounts, addresses and per-account AD state;
//   wanted   the directory's user entries (Directory::search_users);
//   diff     plan_adsync() is pure: it compares the two and returns a Plan, with the
//            lifecycle rules (N consecutive misses before a disable, grace before
//            pending-delete), the placement policy for new accounts and the gates;
//   apply    apply_ad_plan() writes a Plan in one transaction.
// run_adsync() strings them together with the leader lock and the audit row.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "libmapsync/core/json_format.h"
#include "libmapsync/db/backends.h"
#include "libmapsync/db/vocabulary.h"
#include "libmapsync/directory/directory.h"
#include "libmapsync/directory/options.h"

namespace mapsync {

class Database;

// ---- inspect ------------------------------------------------------------------------

struct DbAccount {
  std::uint32_t id = 0;
  std::string anchor;  // 16 raw bytes, or empty
  std::string uid, given_name, surname, display_name, primary_address;
  AccountStatus status = AccountStatus::active;
  AccountSource source = AccountSource::ad;
  Delivery delivery = Delivery::cyrus;
  std::int64_t status_changed_at = 0;  // unix time, 0 = never
  std::vector<std::string> proxy_addresses;  // addresses of kind 'proxy' (adsync's own)
  // ad_account_state
  bool has_state = false;
  std::string dn;
  std::uint64_t usn_changed = 0;
  unsigned missed_runs = 0;
  std::string missing_reason;  // disabled, gone, ""
  std::int64_t missing_since = 0;
};

struct DcState {
  bool present = false;
  std::string invocation_id;
  std::uint64_t highest_usn = 0;
  std::string scope_digest;
  std::int64_t last_full_at = 0;
};

struct AdDbState {
  std::vector<DbAccount> accounts;  // every account (manual ones too, for conflicts)
  // Every address the database routes, case-folded, with who owns it ("account 12",
  // "group staff@...") and, for accounts, the id.
  struct Owner {
    std::uint32_t account_id = 0;  // 0: not an account
    std::string what;
  };
  std::unordered_map<std::string, Owner> addresses;
  std::unordered_set<std::string> domains;  // local and alias domains, case-folded
  std::vector<BackendRow> backends;  // accounts: assigned, not pending-delete
};

// Reads everything plan_adsync needs (in the caller's transaction, if one is open).
void read_ad_db_state(Database& db, AdDbState& out);

// What the last run recorded for the DC named dc_key (present == false: none).
DcState read_dc_state(Database& db, const std::string& dc_key);

// ---- diff ---------------------------------------------------------------------------

enum class SyncMode { full, incremental };

// What an AD entry says the account should be.
struct Wanted {
  std::string anchor, dn, uid, given_name, surname, display_name, primary_address;
  std::vector<std::string> aliases;  // further addresses, as AD spells them
  bool enabled = true;
  std::uint64_t usn_changed = 0;
};

struct FieldChange {
  std::string field, before, after;
};

struct PlannedCreate {
  Wanted w;
  std::string rule;      // placement rule name
  Delivery delivery = Delivery::none;  // cyrus, smtp, none (never forward)
  std::uint32_t backend_id = 0;
  std::string backend;
  std::string smtp_nexthop;
  unsigned quota_mb = 0;
};

struct PlannedUpdate {
  std::uint32_t account_id = 0;
  std::string uid;  // as the database has it now
  Wanted w;
  std::vector<FieldChange> changes;  // account columns (uid, names, primary_address, status, object_guid)
  std::vector<std::string> add_aliases, remove_aliases;
  bool rename = false;  // uid changes: the mailbox follows (a job)
  bool enable = false;
  bool cyrus = false;
};

enum class MissAction { count, disable, pending_delete };

struct PlannedMiss {
  std::uint32_t account_id = 0;
  std::string uid;
  std::string reason;  // disabled (in AD), gone (from scope)
  unsigned missed_runs = 0;  // after this run
  MissAction action = MissAction::count;
  bool new_miss = false;     // the first run that misses it
};

// An account's AD bookkeeping (dn, uSNChanged, miss counter) that changes although the
// account itself does not: written without bumping the change serial.
struct StateUpdate {
  std::uint32_t account_id = 0;
  std::string dn;
  std::uint64_t usn_changed = 0;
  bool reset_misses = false;
  std::string uid, old_dn;  // for the plan: an OU move shows as "move"
  // seen enabled again: the miss counter starts over
};

struct Conflict {
  std::string who;   // uid or DN
  std::string what;  // the reason, naming the other owner
};

struct Plan {
  SyncMode mode = SyncMode::full;
  std::size_t entries = 0;  // AD entries in this run
  std::vector<PlannedCreate> creates;
  std::vector<PlannedUpdate> updates;
  std::vector<PlannedMiss> misses;
  std::vector<StateUpdate> state_updates;
  std::vector<Conflict> conflicts;
  std::vector<std::string> notes;  // ignored entries and addresses, for -v
  std::vector<std::string> gates_tripped;
  std::size_t ad_accounts = 0;     // AD-sourced accounts in the database
  std::size_t active_ad_accounts = 0;

  std::size_t count_renames() const;
  std::size_t count_enables() const;
  std::size_t count(MissAction a) const;
  std::size_t count_new_misses() const;
  // Anything that changes accounts (the serial) or AD bookkeeping.
  bool changes_accounts() const;
  // Nothing to apply that --check would call drift (conflicts cannot be applied away).
  bool in_sync() const { return !changes_accounts() && misses.empty(); }
};

// Members of a placement rule's group (anchors), fetched only when a create needs them.
using GroupMembers = std::function<const std::unordered_set<std::string>&(const std::string& group)>;

struct PlanInput {
  const AdConfig* ad = nullptr;
  SyncMode mode = SyncMode::full;
  std::time_t now = 0;
  bool only_subset = false;  // plan --user: absence of others means nothing
};

// The same, one entry at a time (see adsync_plan.cpp).
class AdPlanner {
 public:
  AdPlanner(const PlanInput& in, const AdDbState& db, GroupMembers members_of);
  ~AdPlanner();
  AdPlanner(const AdPlanner&) = delete;
  AdPlanner& operator=(const AdPlanner&) = delete;
  void add(DirEntry& e);
  // The creates decided so far, in order; final as soon as they appear here.
  const std::vector<PlannedCreate>& creates() const;
  Plan finish();  // once, after the last add()

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Pure: no I/O except through members_of. Applies the gates (gates_tripped).
Plan plan_adsync(const PlanInput& in, const AdDbState& db, std::vector<DirEntry>& entries,
                 const GroupMembers& members_of);

// The account an entry would become (primary and aliases chosen, addresses outside the
// database's domains dropped with a note).
Wanted wanted_from_entry(const AdConfig& ad, const DirEntry& e, const std::unordered_set<std::string>& domains,
                         std::vector<std::string>& notes);

// ---- apply --------------------------------------------------------------------------

struct RunInfo {
  std::time_t started = 0;
  std::string host, os_user, bound_as, dc;
  std::string dc_key;
  DcInfo dc_info;
  std::string scope_digest;
  bool record_dc_state = true;  // false for plan --user and for runs cut short
};

// All in the caller's open transaction: the audit row first (its id tags the mailbox
// jobs), creates in chunks as they are decided, then the rest of the plan, the audit
// row's counts and plan, and the DC's USN. creates_written: how many of plan.creates
// write_ad_creates() has written already.
std::uint64_t begin_ad_audit(Database& db, const RunInfo& info, SyncMode mode);
void write_ad_creates(Database& db, const std::vector<PlannedCreate>& all, std::size_t from, std::size_t to,
                      std::uint64_t run_id);
void apply_ad_plan(Database& db, const Plan& plan, const RunInfo& info, const std::string& plan_json,
                   std::uint64_t run_id, std::size_t creates_written);

// ---- the whole job ------------------------------------------------------------------

struct AdsyncOptions {
  bool apply = false;
  bool force = false;       // past the gates
  bool full = false;        // a full run even when an incremental one would do
  std::string only_uid;     // plan --user
};

struct AdsyncReport {
  Plan plan;
  DcInfo dc;
  std::string bound_as;
  bool applied = false;
  bool refused = false;     // a gate tripped (and no --force)
  bool not_leader = false;  // another host holds the lock
  std::string leader;       // who, then
  std::uint64_t run_id = 0;
};

AdsyncReport run_adsync(const AdsyncSettings& cfg, const AdsyncOptions& opt);

// Text and JSON forms of a plan, for adsync plan and the audit row.
std::string plan_text(const AdsyncReport& r, bool verbose);
std::string plan_json(const AdsyncReport& r, const JsonFormat& format, bool summary_only = false, bool compact = false);

// SHA-256 of what decides which entries are in scope: a change forces a full run.
std::string ad_scope_digest(const AdConfig& ad);

}  // namespace mapsync
