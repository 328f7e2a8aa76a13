// proof.cpp - compares original and imported maps through `postmap -q -`. See proof.h.
#include "libmapsync/importer/proof.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/importer/ident.h"

namespace mapsync {
namespace {

// One side of a comparison: a list of tables asked in order, answers cached by folded key.
class Side {
 public:
  Side(const PostfixTools& tools, const std::vector<std::string>& tables, const std::string& scratch)
      : tools_(tools), tables_(tables), scratch_(scratch) {}

  // Asks every key not asked yet (folded), each table in order.
  void ask(const std::set<std::string>& keys) {
    std::vector<std::string> need;
    for (const std::string& k : keys)
      if (!raw_.count(k)) need.push_back(k);
    if (need.empty()) return;
    for (const std::string& k : need) raw_[k] = std::nullopt;
    for (const std::string& t : tables_) {
      std::map<std::string, std::string> ans;
      query_keys(tools_, t, need, scratch_, ans);
      std::vector<std::string> rest;
      for (const std::string& k : need) {
        if (auto it = ans.find(k); it != ans.end()) raw_[k] = it->second;
        else rest.push_back(k);
      }
      need.swap(rest);
      if (need.empty()) break;
    }
  }
  std::optional<std::string> raw(const std::string& k) const {
    auto it = raw_.find(k);
    return it == raw_.end() ? std::nullopt : it->second;
  }
  // virtual(5): user@domain, then @domain.
  std::optional<std::string> virtual_lookup(const std::string& k) const {
    if (auto v = raw(k)) return v;
    const auto at = k.find('@');
    if (at == std::string::npos || at == 0) return std::nullopt;
    return raw(k.substr(at));
  }
  static void with_catchall(std::set<std::string>& keys, const std::string& k) {
    keys.insert(k);
    if (auto at = k.find('@'); at != std::string::npos && at > 0) keys.insert(k.substr(at));
  }
  // Asks until every address reachable from keys has been looked up.
  void close_over(const std::vector<std::string>& keys) {
    std::set<std::string> pending;
    for (const std::string& k : keys) with_catchall(pending, fold_key(k));
    while (!pending.empty()) {
      ask(pending);
      std::set<std::string> next;
      for (const std::string& k : pending)
        if (k.front() != '@')
          if (auto v = virtual_lookup(k))
            for (const std::string& t : split_targets(*v))
              if (!raw_.count(fold_key(t))) with_catchall(next, fold_key(t));
      pending = std::move(next);
    }
  }
  void finals(const std::string& k, std::set<std::string>& out, std::set<std::string>& visiting) const {
    const std::string f = fold_key(k);
    auto v = virtual_lookup(f);
    if (!v || visiting.count(f)) {
      out.insert(ident(f));
      return;
    }
    visiting.insert(f);
    for (const std::string& t : split_targets(*v)) {
      if (fold_key(t) == f) out.insert(ident(f));
      else finals(t, out, visiting);
    }
    visiting.erase(f);
  }

 private:
  const PostfixTools& tools_;
  std::vector<std::string> tables_;
  std::string scratch_;
  std::map<std::string, std::optional<std::string>> raw_;
};

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const std::string& x : s) out += (out.empty() ? "" : ",") + x;
  return out;
}

std::string alias_targets(const std::string& v) {
  std::set<std::string> s;
  for (std::string t : split_alias_targets(v)) {
    if (t.size() > 1 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
    s.insert(t);
  }
  return join(s);
}

// The answer as compared: "" means not found.
std::string answer(const Side& side, const ProofMap& m, const std::string& key) {
  const std::string f = fold_key(key);
  if (m.how == Compare::final_set) {
    if (!side.virtual_lookup(f)) return "";
    std::set<std::string> out, visiting;
    side.finals(f, out, visiting);
    for (const std::string& x : m.ignored_finals) out.erase(x);
    return join(out);
  }
  auto v = side.raw(f);
  if (!v) return "";
  if (m.how == Compare::presence) return "found";
  if (m.how == Compare::targets) return alias_targets(*v);
  return *v;
}

}  // namespace

std::vector<MapProof> run_proof(const PostfixTools& tools, const std::vector<ProofMap>& maps, const std::string& scratch) {
  std::vector<MapProof> out;
  for (const ProofMap& m : maps) {
    Side old_side(tools, m.old_tables, scratch), new_side(tools, m.new_tables, scratch);
    if (m.how == Compare::final_set) {
      old_side.close_over(m.keys);
      new_side.close_over(m.keys);
    } else {
      std::set<std::string> ks;
      for (const std::string& k : m.keys) ks.insert(fold_key(k));
      old_side.ask(ks);
      new_side.ask(ks);
    }
    MapProof p;
    p.name = m.name;
    p.not_representable = m.not_representable;
    p.new_only = m.new_only;
    for (const std::string& k : m.keys) {
      std::string a = answer(old_side, m, k), b = answer(new_side, m, k);
      if (a == b) ++p.equal;
      else {
        ++p.different;
        p.differences.push_back({k, a.empty() ? "(not found)" : a, b.empty() ? "(not found)" : b});
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace mapsync
