// ident.cpp - see ident.h.
#include "libmapsync/importer/ident.h"

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"

namespace mapsync {

std::string domain_key(std::string_view domain) {
  std::string d = fold_key(domain);
  if (is_idn_domain(d)) {
    std::string a = domain_to_alabel(d);
    if (!a.empty()) return a;
  }
  return d;
}

std::string domain_display(const std::string& key) {
  if (!is_idn_domain(key)) return key;
  std::string u = domain_to_ulabel(key);
  return u.empty() ? key : u;
}

std::string ident(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return fold_key(address);
  return fold_key(address.substr(0, at)) + "@" + domain_key(address.substr(at + 1));
}

std::string domain_ident(const std::string& id) {
  const auto at = id.rfind('@');
  return at == std::string::npos ? std::string() : id.substr(at + 1);
}

std::string local_of(const std::string& id) {
  const auto at = id.rfind('@');
  return at == std::string::npos ? id : id.substr(0, at);
}

std::vector<std::string> split_targets(std::string_view rhs) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : rhs) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

}  // namespace mapsync
