// import_postfix.cpp - Postfix text maps -> ImportPlan. The rules are in docs/import.md;
// in short: relay_domains, transport and virtual decide which domains are ours and of
// which kind; an address routed by lmtp: (its own transport entry or its domain's) is a
// Cyrus account, by smtp: an smtp account; a virtual key with one target that is an
// account is that account's address, with the key among its targets a forward that
// keeps a copy, otherwise a group.
#include "libmapsync/importer/import_postfix.h"

#include <map>
#include <set>
#include <unordered_map>

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/importer/ident.h"

namespace mapsync {
namespace {

std::string where(const PostfixMaps::One& m, const TextEntry& e) { return m.path + ":" + std::to_string(e.line); }

// A transport(5) value, parsed as far as accounts need it.
struct Route {
  enum Kind { none, lmtp, smtp, other } kind = none;
  std::string host;   // lmtp: host without brackets
  unsigned port = 24;
  std::string nexthop;  // smtp: "[host]:port" as written after "smtp:"
  std::string value;
};

Route parse_route(const std::string& v) {
  Route r;
  r.value = v;
  r.kind = Route::other;
  if (v.rfind("lmtp:", 0) == 0) {
    std::string rest = v.substr(5);
    if (rest.rfind("inet:", 0) == 0) rest = rest.substr(5);
    std::string host = rest, port;
    if (!rest.empty() && rest.front() == '[') {
      auto close = rest.find(']');
      if (close == std::string::npos) return r;
      host = rest.substr(1, close - 1);
      if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
    } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    if (host.empty() || host.front() == '/') return r;  // unix socket: no back end host
    r.kind = Route::lmtp;
    r.host = host;
    if (!port.empty()) {
      if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) {
        r.kind = Route::other;
        return r;
      }
      r.port = static_cast<unsigned>(std::stoul(port));
    }
  } else if (v.rfind("smtp:", 0) == 0 && v.size() > 5) {
    r.kind = Route::smtp;
    r.nexthop = v.substr(5);
  }
  return r;
}

class PostfixPlanner {
 public:
  PostfixPlanner(const PostfixMaps& maps, const std::string& prefix) : maps_(maps), prefix_(prefix) {}
  ImportPlan run();

 private:
  void read_transport();
  void read_domains();
  void find_accounts();
  void add_account(const std::string& id, const std::string& as_written);
  void read_virtual();
  void classify_virtual();
  bool classify_key(const PostfixMaps::One& m, const TextEntry& e, const std::vector<std::string>& targets);
  std::string resolve_account(const std::string& id, int depth) const;
  void finish_transport();
  void copy_pairs();
  void skip(const std::string& map, const std::string& w, const std::string& key, const std::string& why) {
    plan_.skipped.push_back({map, w, key, why});
  }
  const Route* route_of(const std::string& id) const;
  bool is_local(const std::string& domain) const { return local_.count(domain) > 0; }

  const PostfixMaps& maps_;
  std::string prefix_;
  ImportPlan plan_;
  std::map<std::string, Route> addr_routes_, domain_routes_;  // by ident / a-label domain
  std::map<std::string, std::string> route_where_;
  std::set<std::string> ours_, local_, relay_;                 // domains (a-label, lowercase)
  std::map<std::string, std::vector<std::string>> virtual_;    // ident -> target idents
  std::map<std::string, std::size_t> accounts_;                // ident -> plan_.accounts index
  std::set<std::string> uids_, consumed_routes_;
  std::map<std::string, std::string> backends_;                // host:port -> name
  std::map<std::string, std::string> address_of_;              // address key ident -> account ident
  std::set<std::string> groups_;
  std::map<std::string, std::string> group_where_;             // group address -> file:line
  std::map<std::string, std::pair<std::string, std::string>> rejected_;  // ident -> as written, why
  std::vector<std::vector<std::string>> targets_;              // per virtual entry: target idents
  std::vector<bool> use_;                                      // per virtual entry: not an IDN twin
};

const Route* PostfixPlanner::route_of(const std::string& id) const {
  if (auto it = addr_routes_.find(id); it != addr_routes_.end()) return &it->second;
  if (auto it = domain_routes_.find(domain_ident(id)); it != domain_routes_.end()) return &it->second;
  return nullptr;
}

void PostfixPlanner::read_transport() {
  const auto* m = maps_.find("transport");
  if (!m) return;
  for (const TextEntry& e : m->map.entries) {
    const std::string& k = e.folded;
    if (k == "*" || k.front() == '.' || k.front() == '@') {
      skip("transport", where(*m, e), e.key, "wildcard or parent-domain pattern: no row holds it");
      continue;
    }
    if (k.find('@') != std::string::npos) {
      std::string id = ident(k);
      addr_routes_[id] = parse_route(e.value);
      route_where_[id] = where(*m, e);
    } else {
      std::string d = domain_key(k);
      domain_routes_[d] = parse_route(e.value);
      route_where_[d] = where(*m, e);
    }
  }
}

// Which domains are ours, and of which kind.
void PostfixPlanner::read_domains() {
  if (const auto* m = maps_.find("relay_domains"))
    for (const TextEntry& e : m->map.entries) {
      if (e.folded.find('@') != std::string::npos || e.folded.front() == '.') {
        skip("relay_domains", where(*m, e), e.key, "not a plain domain name");
        continue;
      }
      ours_.insert(domain_key(e.folded));
    }
  std::set<std::string> relay_all, with_keys;
  if (const auto* m = maps_.find("relay_recipients"))
    for (const TextEntry& e : m->map.entries)
      if (e.folded.size() > 1 && e.folded.front() == '@') relay_all.insert(domain_key(e.folded.substr(1)));
  if (const auto* m = maps_.find("virtual"))
    for (const TextEntry& e : m->map.entries)
      if (auto at = e.folded.find('@'); at != std::string::npos && at > 0) with_keys.insert(domain_key(e.folded.substr(at + 1)));
  if (!maps_.find("relay_domains")) {
    ours_ = with_keys;
    ours_.insert(relay_all.begin(), relay_all.end());
  }
  for (const std::string& d : ours_) {
    auto r = domain_routes_.find(d);
    const bool lmtp = r != domain_routes_.end() && r->second.kind == Route::lmtp;
    const bool relay = relay_all.count(d) || (!with_keys.count(d) && r != domain_routes_.end() && !lmtp);
    PlanDomain pd;
    pd.name = domain_display(d);
    if (relay && !with_keys.count(d)) {
      pd.kind = "relay";
      if (r != domain_routes_.end()) {
        pd.transport = r->second.value;
        consumed_routes_.insert(d);
      }
      relay_.insert(d);
    } else {
      pd.kind = "local";
      local_.insert(d);
    }
    plan_.domains.push_back(pd);
  }
}

void PostfixPlanner::add_account(const std::string& id, const std::string& as_written) {
  if (accounts_.count(id)) return;
  const std::string dom = domain_ident(id);
  if (!is_local(dom)) return;
  const Route* r = route_of(id);
  if (!r || (r->kind != Route::lmtp && r->kind != Route::smtp)) return;
  PlanAccount a;
  a.primary = as_written;
  a.uid = local_of(id);
  // A candidate that cannot be an account is reported once: by its virtual key when it has
  // one (classify_key), else by its transport line (run).
  if (a.uid.size() > 64 || !check_local_part(a.uid).empty()) {
    rejected_[id] = {as_written, "no usable Cyrus uid from its local part"};
    return;
  }
  if (!uids_.insert(a.uid).second) {
    rejected_[id] = {as_written, "uid " + a.uid + " is taken by an account in another domain (mapsync's final recipient is uid@domain)"};
    return;
  }
  if (r->kind == Route::lmtp) {
    const std::string hp = r->host + ":" + std::to_string(r->port);
    auto [it, fresh] = backends_.emplace(hp, prefix_ + std::to_string(backends_.size() + 1));
    if (fresh) plan_.backends.push_back({it->second, r->host, r->port});
    a.delivery = "cyrus";
    a.backend = it->second;
  } else {
    a.delivery = "smtp";
    a.nexthop = r->nexthop;
  }
  if (addr_routes_.count(id)) consumed_routes_.insert(id);
  accounts_[id] = plan_.accounts.size();
  plan_.accounts.push_back(std::move(a));
}

// Final recipients: keys that map to themselves (alone or among others), targets that are
// no key, and addresses with their own transport entry.
void PostfixPlanner::find_accounts() {
  const auto* m = maps_.find("virtual");
  if (m)
    for (const TextEntry& e : m->map.entries) {
      const std::string id = ident(e.folded);
      for (const std::string& t : split_targets(e.value)) {
        const std::string tid = ident(fold_key(t));
        if (tid == id || !virtual_.count(tid)) add_account(tid, t);
      }
    }
  if (const auto* t = maps_.find("transport"))
    for (const TextEntry& e : t->map.entries)
      if (e.folded.find('@') != std::string::npos && e.folded.front() != '@') add_account(ident(e.folded), e.key);
}

// The account an address ends at when it is that account or a chain of single targets
// to one; "" otherwise.
std::string PostfixPlanner::resolve_account(const std::string& id, int depth) const {
  if (accounts_.count(id)) return id;
  if (depth > 20) return "";
  auto it = virtual_.find(id);
  if (it == virtual_.end() || it->second.size() != 1) return "";
  return resolve_account(it->second.front(), depth + 1);
}


// One virtual key; false when it cannot be represented (already reported).
bool PostfixPlanner::classify_key(const PostfixMaps::One& m, const TextEntry& e, const std::vector<std::string>& t) {
  const std::string id = ident(e.folded);
  const std::string dom = domain_ident(id);
  auto bad = [&](const std::string& why) {
    skip("virtual", where(m, e), e.key, why);
    return false;
  };
  if (e.folded.front() == '@') return bad("catch-all: mapsync accepts only the addresses it knows");
  if (e.folded.front() == '/') return bad("regular expression: no row holds a pattern");
  if (dom.empty()) return bad("bare local part: no row holds it");
  if (!is_local(dom)) return bad(relay_.count(dom) ? "address in a relay domain" : "domain " + dom + " is not one of ours");
  const std::vector<std::string> written = split_targets(e.value);
  for (const std::string& x : t)
    if (is_local(domain_ident(x)) && !accounts_.count(x) && !virtual_.count(x))
      return bad("target " + x + " is in our domains but is no account and no key (mail to it bounces; no route found)");
  if (auto r = rejected_.find(id); r != rejected_.end()) {
    r->second.first.clear();  // reported here
    return bad(r->second.second);
  }
  if (auto a = accounts_.find(id); a != accounts_.end()) {
    PlanAccount& acc = plan_.accounts[a->second];
    if (t.size() == 1 && t.front() == id) return true;
    std::vector<std::string> fwd;
    bool self = false;
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (t[i] == id) self = true;
      else fwd.push_back(written[i]);
    }
    if (self && acc.delivery != "cyrus") return bad("forward with a kept copy for an account not delivered by lmtp");
    acc.keep_copy = self;
    if (!self) {
      acc.backend.clear();
      consumed_routes_.erase(id);  // a plain forward has no route of its own: keep the old one as an override
    }
    acc.delivery = "forward";
    acc.forwards = fwd;
    return true;
  }
  if (t.size() == 1) {
    if (std::string acc = resolve_account(t.front(), 0); !acc.empty()) {
      plan_.addresses.push_back({e.key, plan_.accounts[accounts_[acc]].primary});
      address_of_[id] = acc;
      return true;
    }
  }
  PlanGroup g;
  g.address = e.key;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (std::string acc = resolve_account(t[i], 0); !acc.empty()) {
      g.members.push_back({PlanMember::account, plan_.accounts[accounts_[acc]].primary});
    } else if (virtual_.count(t[i])) {
      g.members.push_back({PlanMember::group, t[i]});
    } else {
      g.members.push_back({PlanMember::address, written[i]});
    }
  }
  groups_.insert(id);
  group_where_[e.key] = where(m, e);
  plan_.groups.push_back(std::move(g));
  return true;
}

// The virtual keys by ident; the second IDN form of a key is not used (use_ false).
void PostfixPlanner::read_virtual() {
  const auto* m = maps_.find("virtual");
  if (!m) return;
  targets_.assign(m->map.entries.size(), {});
  use_.assign(m->map.entries.size(), true);
  auto& targets = targets_;
  auto& use = use_;
  for (std::size_t i = 0; i < m->map.entries.size(); ++i) {
    const TextEntry& e = m->map.entries[i];
    for (const std::string& x : split_targets(e.value)) targets[i].push_back(ident(x));
    auto [it, fresh] = virtual_.emplace(ident(e.folded), targets[i]);
    if (!fresh) {
      use[i] = false;  // the other IDN form of a key: mapsync publishes both from one row
      if (std::set<std::string>(it->second.begin(), it->second.end()) !=
          std::set<std::string>(targets[i].begin(), targets[i].end()))
        skip("virtual", where(*m, e), e.key, "the other IDN form of an earlier key, with other targets");
    }
  }
}

void PostfixPlanner::classify_virtual() {
  const auto* m = maps_.find("virtual");
  if (!m) return;
  const auto& targets = targets_;
  const auto& use = use_;
  for (std::size_t i = 0; i < m->map.entries.size(); ++i)
    if (use[i] && !classify_key(*m, m->map.entries[i], targets[i])) virtual_.erase(ident(m->map.entries[i].folded));
  // A group whose member group was left out would point into nothing: leave it out too.
  for (bool changed = true; changed;) {
    changed = false;
    for (auto g = plan_.groups.begin(); g != plan_.groups.end();) {
      bool dangling = false;
      for (const PlanMember& mb : g->members)
        if (mb.kind == PlanMember::group && !groups_.count(mb.value)) dangling = true;
      if (!dangling) {
        ++g;
        continue;
      }
      skip("virtual", group_where_[g->address], g->address, "a member is a key that could not be imported");
      groups_.erase(ident(fold_key(g->address)));
      g = plan_.groups.erase(g);
      changed = true;
    }
  }
}

void PostfixPlanner::finish_transport() {
  const auto* m = maps_.find("transport");
  if (!m) return;
  for (const TextEntry& e : m->map.entries) {
    const std::string& k = e.folded;
    if (k == "*" || k.front() == '.' || k.front() == '@') continue;
    const std::string id = k.find('@') != std::string::npos ? ident(k) : domain_key(k);
    if (consumed_routes_.count(id)) continue;
    plan_.transport_overrides.push_back({e.key, e.value});
  }
}

void PostfixPlanner::copy_pairs() {
  if (const auto* m = maps_.find("canonical"))
    for (const TextEntry& e : m->map.entries) {
      auto ok = [](const std::string& a) {
        return a.size() > 1 && a.front() == '@' ? check_domain(a.substr(1)) : check_address(a);
      };
      std::string why = ok(e.key);
      if (why.empty()) why = ok(e.value);
      if (!why.empty()) skip("canonical", where(*m, e), e.key, why);
      else plan_.canonical.push_back({e.key, e.value});
    }
  if (const auto* m = maps_.find("aliases"))
    for (const TextEntry& e : m->map.entries) {
      std::string why = e.key.find_first_of(":@") != std::string::npos ? "name holds ':' or '@'" : check_local_part(e.key);
      if (why.empty() && e.value.empty()) why = "no targets";
      for (const std::string& t : split_alias_targets(e.value))
        if (why.empty()) why = check_alias_target(t);
      if (!why.empty()) skip("aliases", where(*m, e), e.key, why);
      else plan_.system_aliases.push_back({e.key, e.value});
    }
}

ImportPlan PostfixPlanner::run() {
  for (const auto& m : maps_.maps) {
    for (const TextProblem& p : m.map.problems)
      skip(m.name, m.path + ":" + std::to_string(p.line), p.key, p.why);
    if (!m.readable)
      for (const TextEntry& e : m.map.entries) skip(m.name, where(m, e), e.key, m.type + ": table is not a text map");
  }
  read_transport();
  read_domains();
  read_virtual();
  find_accounts();
  classify_virtual();
  if (const auto* m = maps_.find("relay_recipients"))
    for (const TextEntry& e : m->map.entries) {
      if (e.folded.front() == '@') continue;
      const std::string id = ident(e.folded);
      if (accounts_.count(id) || virtual_.count(id)) continue;
      if (relay_.count(domain_ident(id))) skip("relay_recipients", where(*m, e), e.key, "one recipient of a relay domain: mapsync accepts the whole domain");
    }
  for (const auto& [id, r] : rejected_)
    if (!r.first.empty()) skip("accounts", route_where_[id], r.first, r.second);
  finish_transport();
  copy_pairs();
  return std::move(plan_);
}

}  // namespace

PostfixMaps read_postfix_sources(const PostfixSources& src) {
  PostfixMaps out;
  const std::pair<const char*, const std::string*> given[] = {
      {"virtual", &src.virtual_map},   {"transport", &src.transport},         {"canonical", &src.canonical},
      {"relay_recipients", &src.relay_recipients}, {"relay_domains", &src.relay_domains}, {"aliases", &src.aliases}};
  for (const auto& [name, path] : given) {
    if (path->empty()) continue;
    PostfixMaps::One one;
    one.name = name;
    one.path = *path;
    if (auto colon = path->find(':'); colon != std::string::npos && path->front() != '/') {
      one.type = path->substr(0, colon);
      one.path = path->substr(colon + 1);
    }
    one.readable = one.type.empty() || one.type == "hash" || one.type == "btree" || one.type == "lmdb" || one.type == "cdb";
    one.map = read_text_map(one.path, one.name == std::string("aliases"));
    out.maps.push_back(std::move(one));
  }
  if (out.maps.empty()) fail(Exit::usage, "import postfix: give at least one map (--virtual, --transport, ...)");
  return out;
}

ImportPlan plan_postfix_import(const PostfixMaps& maps, const std::string& backend_prefix) {
  return PostfixPlanner(maps, backend_prefix).run();
}

}  // namespace mapsync
