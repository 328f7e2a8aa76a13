// import_postfixadmin.cpp - `mapadm import postfixadmin`: a PostfixAdmin database (tables
// domain, mailbox, alias, alias_domain) -> ImportPlan, and a proof against Postfix's
// mysql: lookups with PostfixAdmin's own queries (DOCUMENTS/POSTFIX_CONF.txt). The rules
// are in docs/import.md; in short: active domains are local domains, alias_domain rows
// alias domains; mailboxes are Cyrus accounts on one back end (uid = the local part); an
// alias row is an account's own (goto itself: nothing; itself among other targets: a
// forward that keeps a copy; without itself: a plain forward), one target that is an
// account (an address of it), or a group. Inactive rows, catch-alls and vacation
// autoreply targets are reported, not imported.
#include <map>
#include <set>

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/db/database.h"
#include "libmapsync/importer/ident.h"
#include "libmapsync/importer/import_run.h"

namespace mapsync {
namespace {

struct PfaAlias {
  std::string address, go_to;
  bool active = true;
};

struct PfaData {
  std::vector<std::pair<std::string, bool>> domains;                       // name, active
  std::vector<std::tuple<std::string, std::string, bool>> alias_domains;   // alias, target, active
  struct Mailbox {
    std::string username, name;
    std::uint64_t quota = 0;
    bool active = true;
  };
  std::vector<Mailbox> mailboxes;
  std::vector<PfaAlias> aliases;
};

PfaData read_pfa(const DatabaseConfig& cfg) {
  Database db(cfg, SchemaCheck::by_caller);  // not a mapsync schema
  PfaData d;
  db.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", "reading PostfixAdmin");
  db.each_row("SELECT domain, active FROM domain WHERE domain <> 'ALL' ORDER BY domain", "reading domain",
              [&](const SqlRow& r) { d.domains.emplace_back(r.str(1), r.u64(2) != 0); });
  db.each_row("SELECT alias_domain, target_domain, active FROM alias_domain ORDER BY alias_domain", "reading alias_domain",
              [&](const SqlRow& r) { d.alias_domains.emplace_back(r.str(1), r.str(2), r.u64(3) != 0); });
  db.each_row("SELECT username, name, quota, active FROM mailbox ORDER BY username", "reading mailbox",
              [&](const SqlRow& r) { d.mailboxes.push_back({r.str(1), r.str(2), r.u64(3), r.u64(4) != 0}); });
  db.each_row("SELECT address, goto, active FROM alias ORDER BY address", "reading alias",
              [&](const SqlRow& r) { d.aliases.push_back({r.str(1), r.str(2), r.u64(3) != 0}); });
  db.execute("COMMIT", "reading PostfixAdmin");
  return d;
}

class PfaPlanner {
 public:
  PfaPlanner(const PfaData& d, const PostfixAdminOptions& o) : d_(d), o_(o) {}
  ImportPlan run();

 private:
  void domains();
  void mailboxes();
  bool alias(const PfaAlias& a);
  void skip(const std::string& table, const std::string& key, const std::string& why) {
    plan_.skipped.push_back({table, "table " + table, key, why});
  }

  const PfaData& d_;
  const PostfixAdminOptions& o_;
  ImportPlan plan_;
  std::set<std::string> local_;
  std::map<std::string, std::size_t> accounts_;  // ident -> index
  std::map<std::string, std::vector<std::string>> aliases_;  // active alias idents -> targets
  std::set<std::string> skipped_mailboxes_;

 public:
  std::set<std::string> dropped_;  // targets left out (vacation), for the proof
};

void PfaPlanner::domains() {
  for (const auto& [name, active] : d_.domains) {
    if (!active) {
      skip("domain", name, "inactive: PostfixAdmin's domains map does not answer it; its rows are left out");
      continue;
    }
    local_.insert(domain_key(name));
  }
  for (const auto& [alias, target, active] : d_.alias_domains) {
    if (!active || !local_.count(domain_key(target))) {
      skip("alias_domain", alias, active ? "target domain is not imported" : "inactive");
      continue;
    }
    local_.erase(domain_key(alias));  // the alias domain is also a domain row in PostfixAdmin
  }
  for (const auto& [name, active] : d_.domains)
    if (active && local_.count(domain_key(name))) plan_.domains.push_back({name, "local", "", "", true});
  for (const auto& [alias, target, active] : d_.alias_domains)
    if (active && local_.count(domain_key(target))) plan_.domains.push_back({alias, "alias", "", target, true});
  plan_.backends.push_back({o_.backend, o_.backend_host, o_.backend_port});
}

void PfaPlanner::mailboxes() {
  std::map<std::string, std::string> uids;
  for (const auto& m : d_.mailboxes) {
    const std::string id = ident(m.username);
    if (!local_.count(domain_ident(id))) {
      skip("mailbox", m.username, "its domain is not imported");
      continue;
    }
    const std::string uid = local_of(id);
    if (auto [it, fresh] = uids.emplace(uid, m.username); !fresh) {
      skipped_mailboxes_.insert(id);
      skip("mailbox", m.username, "uid " + uid + " is taken by " + it->second + " (mapsync's final recipient is uid@domain)");
      continue;
    }
    if (!m.active) skip("mailbox", m.username, "inactive: imported as a disabled account");
    PlanAccount a;
    a.uid = uid;
    a.primary = m.username;
    a.delivery = "cyrus";
    a.backend = o_.backend;
    a.active = m.active;
    a.display_name = m.name;
    a.quota_mb = m.quota / 1024000;
    accounts_[id] = plan_.accounts.size();
    plan_.accounts.push_back(std::move(a));
  }
}

// One active alias row; false when it is left out (reported).
bool PfaPlanner::alias(const PfaAlias& a) {
  const std::string id = ident(a.address);
  if (a.address.front() == '@') return skip("alias", a.address, "catch-all: mapsync accepts only the addresses it knows"), false;
  if (!local_.count(domain_ident(id))) return skip("alias", a.address, "its domain is not imported"), false;
  if (skipped_mailboxes_.count(id)) return false;  // the mailbox's own row: reported with the mailbox
  std::vector<std::string> written, t;
  for (const std::string& x : split_targets(a.go_to)) {
    std::string_view l, dom;
    if (split_address(x, l, dom) && l.find('#') != std::string_view::npos) {
      plan_.skipped.push_back({"vacation", "table alias", a.address,
                               "vacation autoreply target " + x + " dropped (mapsync has no autoresponder)"});
      dropped_.insert(ident(x));
      continue;
    }
    written.push_back(x);
    t.push_back(ident(x));
  }
  for (const std::string& x : t)
    if (local_.count(domain_ident(x)) && !accounts_.count(x) && !aliases_.count(x))
      return skip("alias", a.address, "target " + x + " is in our domains but is no mailbox and no active alias"), false;
  if (auto it = accounts_.find(id); it != accounts_.end()) {
    PlanAccount& acc = plan_.accounts[it->second];
    if (t.size() == 1 && t.front() == id) return true;
    bool self = false;
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (t[i] == id) self = true;
      else acc.forwards.push_back(written[i]);
    }
    acc.delivery = "forward";
    acc.keep_copy = self;
    if (!self) acc.backend.clear();
    return true;
  }
  if (t.size() == 1 && accounts_.count(t.front())) {
    plan_.addresses.push_back({a.address, plan_.accounts[accounts_[t.front()]].primary});
    return true;
  }
  PlanGroup g;
  g.address = a.address;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (accounts_.count(t[i])) g.members.push_back({PlanMember::account, plan_.accounts[accounts_[t[i]]].primary});
    else if (aliases_.count(t[i])) g.members.push_back({PlanMember::group, t[i]});
    else g.members.push_back({PlanMember::address, written[i]});
  }
  plan_.groups.push_back(std::move(g));
  return true;
}

ImportPlan PfaPlanner::run() {
  domains();
  mailboxes();
  for (const PfaAlias& a : d_.aliases)
    if (a.active) aliases_[ident(a.address)] = split_targets(a.go_to);
  for (const PfaAlias& a : d_.aliases) {
    if (!a.active) {
      if (!accounts_.count(ident(a.address)))
        skip("alias", a.address, "inactive: PostfixAdmin's alias map does not answer it");
      continue;
    }
    if (!alias(a)) aliases_.erase(ident(a.address));
  }
  // Group members that are aliases must be groups themselves (an alias of one account is
  // an address row, which a group cannot name): name the account instead.
  std::set<std::string> groups;
  for (const PlanGroup& g : plan_.groups) groups.insert(ident(g.address));
  std::map<std::string, std::string> address_account;
  for (const PlanAddress& x : plan_.addresses) address_account[ident(x.address)] = x.account;
  for (PlanGroup& g : plan_.groups)
    for (PlanMember& m : g.members)
      if (m.kind == PlanMember::group && !groups.count(m.value)) {
        if (auto it = address_account.find(m.value); it != address_account.end()) m = {PlanMember::account, it->second};
        else m.kind = PlanMember::address;
      }
  return std::move(plan_);
}


// PostfixAdmin's lookups as POSTFIX_CONF.txt names their files, wired as its main.cf
// lines wire them (each list: the first table that answers wins).
std::string cf(const PostfixAdminOptions& o, const char* name) {
  return "mysql:" + o.mysql_cf_dir + "/mysql_" + name + ".cf";
}

std::vector<ProofMap> pfa_proof(const PfaData& d, const ImportPlan& plan, const std::set<std::string>& dropped,
                                const PostfixAdminOptions& o,
                                const std::map<std::string, std::string>& new_tables, const RenderedMaps& rendered) {
  std::set<std::string> skipped;
  for (const Skipped& s : plan.skipped)
    if (s.map != "vacation") skipped.insert(ident(s.key));  // the rest of such a row is imported
  std::size_t skipped_aliases = 0;
  ProofMap v;
  v.name = "virtual";
  v.how = Compare::final_set;
  std::set<std::string> seen;
  auto add = [&](const std::string& k) {
    if (seen.insert(ident(k)).second) v.keys.push_back(k);
  };
  std::map<std::string, std::vector<std::string>> by_domain;  // target domain -> local parts
  for (const PfaAlias& a : d.aliases) {
    if (skipped.count(ident(a.address))) {
      ++skipped_aliases;
      continue;
    }
    add(a.address);
    by_domain[domain_ident(ident(a.address))].push_back(local_of(ident(a.address)));
  }
  for (const auto& [alias, target, active] : d.alias_domains)
    if (active && !skipped.count(ident(alias)))
      for (const std::string& l : by_domain[domain_key(target)]) add(l + "@" + alias);
  v.not_representable = skipped_aliases;
  v.ignored_finals = dropped;
  v.old_tables = {cf(o, "virtual_alias_maps"), cf(o, "virtual_alias_domain_maps"),
                  cf(o, "virtual_alias_domain_catchall_maps")};
  ProofMap rr = v;
  rr.name = "relay_recipients";
  rr.how = Compare::presence;
  rr.old_tables.push_back(cf(o, "virtual_mailbox_maps"));
  rr.old_tables.push_back(cf(o, "virtual_alias_domain_mailbox_maps"));
  ProofMap dom;
  dom.name = "relay_domains";
  dom.how = Compare::presence;
  dom.old_tables = {cf(o, "virtual_domains_maps")};
  for (const auto& [name, active] : d.domains) {
    if (skipped.count(ident(name))) ++dom.not_representable;
    else dom.keys.push_back(name);
  }
  std::vector<ProofMap> out{v, rr, dom};
  for (ProofMap& p : out) {
    if (auto it = new_tables.find(p.name); it != new_tables.end()) p.new_tables = {it->second};
    std::set<std::string> original;
    for (const std::string& k : p.keys) original.insert(fold_key(k));
    if (const MapContent* c = rendered_map(rendered, p.name)) p.new_only = keys_only_in(*c, original);
  }
  return out;
}

}  // namespace

ImportReport import_postfixadmin(const MapsSettings& settings, const PostfixAdminOptions& pfa, const ImportOptions& options) {
  if (pfa.backend.empty() || pfa.backend_host.empty())
    fail(Exit::usage, "import postfixadmin: --backend NAME and --backend-host HOST are required");
  if (pfa.mysql_cf_dir.empty()) fail(Exit::usage, "import postfixadmin: --mysql-cf-dir is required for the proof");
  ImportReport r;
  r.source = "postfixadmin";
  const PfaData data = read_pfa(pfa.source);
  PfaPlanner planner(data, pfa);
  r.plan = planner.run();
  run_import(settings, options, r,
             [&](const std::string&, const std::map<std::string, std::string>& tables, const RenderedMaps& rm) {
               return pfa_proof(data, r.plan, planner.dropped_, pfa, tables, rm);
             });
  return r;
}

}  // namespace mapsync
