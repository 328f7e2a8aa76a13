// entities.cpp - what mapadm can change: the table of entities and fields, and the checks
// that need no database (parse_change, check_value). See admin.h.
//
// Column names in SQL come from this table only, never from input. AD ownership follows
// directory/adsync_plan.cpp and adsync_store.cpp: on source 'ad' accounts adsync writes
// uid, object_guid, given_name, surname, display_name, primary_address, status and the
// 'proxy' addresses; routing (delivery, back end, target, quota) is set once at creation
// and is the admins' afterwards.
#include <algorithm>

#include "libmapsync/admin/admin.h"
#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/db/vocabulary.h"

namespace mapsync::admin {
namespace {

template <class E>
std::vector<std::string_view> words_of() {
  return {SqlWords<E>::words.begin(), SqlWords<E>::words.end()};
}

Field f(std::string_view name, std::string_view column, FieldType type) {
  Field x;
  x.name = name;
  x.column = column;
  x.type = type;
  return x;
}
Field req(Field x) {
  x.required = true;
  return x;
}
Field ad(Field x) {
  x.ad_managed = true;
  return x;
}
Field ro(Field x) {
  x.read_only = true;
  return x;
}
Field word(std::string_view name, std::vector<std::string_view> w) {
  Field x = f(name, name, FieldType::word);
  x.words = std::move(w);
  return x;
}
Field ref(std::string_view name, std::string_view column, std::string_view table, std::string_view key,
          std::string_view noun) {
  Field x = f(name, column, FieldType::ref);
  x.ref_table = table;
  x.ref_key = key;
  x.ref_noun = noun;
  return x;
}

std::vector<Entity> make_entities() {
  using T = FieldType;
  std::vector<Entity> e;
  e.push_back({"account", "accounts", 1,
               {req(ad(f("uid", "uid", T::text))), req(ad(f("primary_address", "primary_address", T::address))),
                ad(f("given_name", "given_name", T::text)), ad(f("surname", "surname", T::text)),
                ad(f("display_name", "display_name", T::text)), ad(word("status", words_of<AccountStatus>())),
                req(word("delivery", words_of<Delivery>())), ref("backend", "backend_id", "backends", "name", "back end"),
                f("partition", "cyrus_partition", T::text), f("smtp_nexthop", "smtp_nexthop", T::text),
                ref("delivery_target", "delivery_target_id", "delivery_targets", "name", "delivery target"),
                f("routing_address", "routing_address", T::address), f("keep_copy", "keep_copy", T::boolean),
                f("quota_mb", "quota_mb", T::number), ro(word("source", words_of<AccountSource>()))},
               AdRule::account, "accounts (people and role accounts): where their mail goes"});
  e.push_back({"address", "addresses", 1,
               {req(f("address", "address", T::address)), req(ref("account", "account_id", "accounts", "uid", "account")),
                word("kind", {"alias", "proxy"})},
               AdRule::proxy_address, "further addresses of an account (aliases)"});
  e.push_back({"forward", "account_forwards", 2,
               {req(ref("account", "account_id", "accounts", "uid", "account")), req(f("target", "target", T::address))},
               AdRule::none, "forward targets of an account with delivery 'forward' (or keep_copy)"});
  e.push_back({"group", "group_aliases", 1,
               {req(f("address", "address", T::address)), f("description", "description", T::text),
                f("enabled", "enabled", T::boolean)},
               AdRule::none, "group aliases: an address that expands to its members"});
  e.push_back({"member", "group_members", 2,
               {req(ref("group", "group_id", "group_aliases", "address", "group")), req(f("member", "", T::member))},
               AdRule::none, "members of a group: account:UID, group:ADDRESS or an external address"});
  e.push_back({"domain", "domains", 1,
               {req(f("name", "name", T::domain)), req(word("kind", words_of<DomainKind>())),
                ref("target", "target_domain_id", "domains", "name", "domain"), f("transport", "transport", T::transport),
                f("enabled", "enabled", T::boolean), f("note", "note", T::text)},
               AdRule::none, "domains: local, alias (of a target domain), relay, list"});
  e.push_back({"list", "mailing_lists", 1,
               {req(f("address", "address", T::address)), req(word("manager", words_of<ListManager>())),
                f("transport", "transport", T::transport), f("local_name", "local_name", T::text),
                f("pipe_command", "pipe_command", T::text), f("enabled", "enabled", T::boolean)},
               AdRule::none, "mailing lists handed to a list manager"});
  e.push_back({"alias", "system_aliases", 1,
               {req(f("name", "name", T::text)), req(f("targets", "targets", T::alias_targets)),
                f("all_domains", "all_domains", T::boolean)},
               AdRule::none, "system aliases (postmaster, root, abuse, ...)"});
  e.push_back({"canonical", "canonical_rewrites", 1,
               {req(f("source", "source", T::address_or_domain)), req(f("target", "target", T::address_or_domain)),
                f("enabled", "enabled", T::boolean), f("note", "note", T::text)},
               AdRule::none, "explicit sender rewrites"});
  e.push_back({"transport", "transport_overrides", 1,
               {req(f("pattern", "pattern", T::address_or_domain)), req(f("transport", "transport", T::transport)),
                f("enabled", "enabled", T::boolean), f("note", "note", T::text)},
               AdRule::none, "per-domain or per-address next hops that replace the computed one"});
  e.push_back({"backend", "backends", 1,
               {req(f("name", "name", T::text)), req(f("lmtp_host", "lmtp_host", T::text)),
                f("lmtp_port", "lmtp_port", T::number), req(f("imap_host", "imap_host", T::text)),
                f("imap_port", "imap_port", T::number), f("partitions", "partitions", T::text),
                f("enabled", "enabled", T::boolean)},
               AdRule::none, "Cyrus back ends"});
  e.push_back({"target", "delivery_targets", 1,
               {req(f("name", "name", T::text)), f("transport", "transport", T::transport),
                f("routing_domain", "routing_domain", T::domain), f("address_template", "address_template", T::text),
                f("enabled", "enabled", T::boolean), f("note", "note", T::text)},
               AdRule::none, "delivery targets for accounts delivered by SMTP (Exchange, a cloud tenant)"});
  return e;
}

std::string check_domain_pattern(std::string_view v) {
  if (v.find('@') == std::string_view::npos) return check_domain(v);
  if (v.front() == '@') return check_domain(v.substr(1));
  return check_address(v);
}

}  // namespace

const Field* Entity::field(std::string_view n) const {
  for (const Field& x : fields)
    if (x.name == n) return &x;
  return nullptr;
}

const std::vector<Entity>& entities() {
  static const std::vector<Entity> all = make_entities();
  return all;
}

const Entity* find_entity(std::string_view name) {
  for (const Entity& e : entities())
    if (e.name == name) return &e;
  return nullptr;
}

std::string_view verb_name(Verb v) {
  static constexpr std::string_view names[] = {"add", "set", "remove", "enable", "disable", "show", "list"};
  return names[static_cast<std::size_t>(v)];
}

std::string Change::what() const {
  std::string s(entity ? entity->name : "?");
  for (const auto& k : keys) s += " " + k;
  return s;
}

std::string Change::command() const {
  std::string s = std::string(entity->name) + " " + std::string(verb_name(verb));
  for (const auto& k : keys) s += " " + k;
  for (const auto& [n, v] : fields) s += " " + n + "=" + v;
  return s;
}

std::string check_value(const Field& fd, std::string_view v) {
  if (!is_valid_utf8(v)) return "not valid UTF-8";
  if (v.empty()) return fd.required ? "may not be empty" : "";
  switch (fd.type) {
    case FieldType::text:
      if (v.find_first_of("\r\n") != std::string_view::npos) return "holds a line break";
      return "";
    case FieldType::address: return check_address(v);
    case FieldType::domain: return check_domain(v);
    case FieldType::address_or_domain: return check_domain_pattern(v);
    case FieldType::transport: return check_transport(v);
    case FieldType::alias_targets: {
      for (const std::string& t : split_alias_targets(v))
        if (std::string why = check_alias_target(t); !why.empty()) return "\"" + t + "\": " + why;
      return "";
    }
    case FieldType::word:
      if (std::find(fd.words.begin(), fd.words.end(), v) != fd.words.end()) return "";
      {
        std::string all;
        for (auto w : fd.words) all += (all.empty() ? "" : ", ") + std::string(w);
        return "is not one of " + all;
      }
    case FieldType::boolean:
      for (std::string_view w : {"yes", "no", "true", "false", "1", "0"})
        if (v == w) return "";
      return "is not yes/no/true/false/1/0";
    case FieldType::number:
      if (v.size() > 9 || v.find_first_not_of("0123456789") != std::string_view::npos) return "is not a number";
      return "";
    case FieldType::ref: return "";  // resolved in the database
    case FieldType::member:
      if (v.rfind("account:", 0) == 0) return v.size() > 8 ? "" : "names no account";
      if (v.rfind("group:", 0) == 0) return check_address(v.substr(6));
      return check_address(v);
  }
  return "";
}

Change parse_change(const std::vector<std::string>& words, const std::string& origin) {
  const Exit status = origin.empty() ? Exit::usage : Exit::data;
  const std::string at = origin.empty() ? "" : origin + ": ";
  Change c;
  c.origin = origin;
  if (words.empty()) fail(status, at + "empty change");
  c.entity = find_entity(words[0]);
  if (!c.entity) fail(status, at + "unknown object \"" + words[0] + "\"");
  const Entity& e = *c.entity;
  if (words.size() < 2) fail(status, at + std::string(e.name) + ": no verb (add, set, remove, enable, disable, show, list)");
  bool known = false;
  for (Verb v : {Verb::add, Verb::set, Verb::remove, Verb::enable, Verb::disable, Verb::show, Verb::list})
    if (verb_name(v) == words[1]) c.verb = v, known = true;
  if (!known) fail(status, at + std::string(e.name) + ": unknown verb \"" + words[1] + "\"");
  if ((c.verb == Verb::enable || c.verb == Verb::disable) && !e.field("status") && !e.field("enabled"))
    fail(status, at + std::string(e.name) + ": cannot be enabled or disabled");
  std::size_t i = 2;
  const std::size_t nkeys = c.verb == Verb::list ? 0 : e.keys;
  for (; i < words.size() && c.keys.size() < nkeys; ++i) {
    if (words[i].find('=') != std::string::npos) break;  // FIELD=VALUE: a key is missing
    c.keys.push_back(words[i]);
  }
  if (c.keys.size() < nkeys) {
    std::string names;
    for (std::size_t k = 0; k < e.keys; ++k) names += " " + std::string(e.fields[k].name);
    fail(status, at + std::string(e.name) + " " + words[1] + ": give" + names);
  }
  for (std::size_t k = 0; k < c.keys.size(); ++k)
    if (e.fields[k].type != FieldType::ref)
      if (std::string why = check_value(e.fields[k], c.keys[k]); !why.empty())
        fail(status, at + c.what() + ": " + std::string(e.fields[k].name) + " \"" + c.keys[k] + "\": " + why);
  for (; i < words.size(); ++i) {
    const auto eq = words[i].find('=');
    if (eq == std::string::npos || eq == 0)
      fail(status, at + c.what() + ": \"" + words[i] + "\" is not FIELD=VALUE");
    std::string name = words[i].substr(0, eq), value = words[i].substr(eq + 1);
    const Field* fd = e.field(name);
    if (!fd) {
      std::string names;
      for (const Field& x : e.fields) names += (names.empty() ? "" : ", ") + std::string(x.name);
      fail(status, at + c.what() + ": no field \"" + name + "\" (fields: " + names + ")");
    }
    const bool is_key = static_cast<std::size_t>(fd - e.fields.data()) < e.keys;
    if (c.verb != Verb::list) {
      if (c.verb != Verb::add && c.verb != Verb::set)
        fail(status, at + c.what() + ": " + std::string(verb_name(c.verb)) + " takes no fields");
      if (fd->read_only) fail(status, at + c.what() + ": field " + name + " is not changed by mapadm");
      if (is_key && e.keys > 1) fail(status, at + c.what() + ": field " + name + " is part of the key; remove and add instead");
      if (std::string why = check_value(*fd, value); !why.empty())
        fail(status, at + c.what() + ": " + name + " \"" + value + "\": " + why);
    }
    for (const auto& [n, v] : c.fields)
      if (n == name) fail(status, at + c.what() + ": field " + name + " given twice");
    c.fields.emplace_back(std::move(name), std::move(value));
  }
  if (c.verb == Verb::add)
    for (std::size_t k = e.keys; k < e.fields.size(); ++k)
      if (e.fields[k].required &&
          std::none_of(c.fields.begin(), c.fields.end(), [&](const auto& p) { return p.first == e.fields[k].name; }))
        fail(status, at + c.what() + ": add needs " + std::string(e.fields[k].name) + "=...");
  return c;
}

}  // namespace mapsync::admin
