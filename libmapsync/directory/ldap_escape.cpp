// ldap_escape.cpp - RFC 4515 filter values and RFC 4514 DN values.
#include "libmapsync/directory/ldap_escape.h"

#include "libmapsync/core/error.h"

namespace mapsync {
namespace {

void hex_escape(std::string& out, unsigned char c) {
  static const char digits[] = "0123456789abcdef";
  out += '\\';
  out += digits[c >> 4];
  out += digits[c & 15];
}

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace

std::string ldap_filter_value(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0) hex_escape(out, c);
    else out += ch;
  }
  return out;
}

std::string ldap_dn_value(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    const bool first = i == 0, last = i + 1 == value.size();
    if (c == 0) hex_escape(out, 0);
    else if (c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\' ||
             (first && (c == ' ' || c == '#')) || (last && c == ' ')) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

bool ldap_attribute_name_ok(std::string_view attr) {
  if (attr.empty()) return false;
  if (attr[0] >= '0' && attr[0] <= '9') {  // numeric OID
    bool dot_ok = false;
    for (char c : attr) {
      if (c == '.') {
        if (!dot_ok) return false;
        dot_ok = false;
      } else if (c >= '0' && c <= '9') {
        dot_ok = true;
      } else {
        return false;
      }
    }
    return dot_ok;
  }
  if (!alnum(attr[0])) return false;
  for (char c : attr)
    if (!alnum(c) && c != '-' && c != ';') return false;
  return true;
}

std::string ldap_equality_filter(std::string_view attr, std::string_view value) {
  // "memberOf:1.2.840.113556.1.4.1941:" is an extensible match: attribute, then a rule OID.
  std::string_view name = attr;
  std::string_view rule;
  if (const auto colon = attr.find(':'); colon != std::string_view::npos) {
    name = attr.substr(0, colon);
    rule = attr.substr(colon + 1);
    if (rule.empty() || rule.back() != ':') fail(Exit::config, "LDAP attribute \"" + std::string(attr) + "\": a matching rule is written attr:OID:");
    rule.remove_suffix(1);
    if (!ldap_attribute_name_ok(rule) || !(rule[0] >= '0' && rule[0] <= '9'))
      fail(Exit::config, "LDAP attribute \"" + std::string(attr) + "\": the matching rule must be a numeric OID");
  }
  if (!ldap_attribute_name_ok(name)) fail(Exit::config, "not an LDAP attribute name: \"" + std::string(attr) + "\"");
  return "(" + std::string(attr) + "=" + ldap_filter_value(value) + ")";
}

}  // namespace mapsync
