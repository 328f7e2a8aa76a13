// directory/options.h - the Active Directory reconcile settings (the `ad:` section).
//
// A plain struct, filled from the YAML file by config/ (the one room that sees every
// section) or directly by tests; this room's code takes it and nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "libmapsync/db/options.h"
#include "libmapsync/db/vocabulary.h"

namespace mapsync {

// Active Directory reconcile (adsync). Absent from the file: present == false.
enum class AdBind { gssapi, simple };

// Where new accounts deliver: the first rule whose ou and group both match wins.
struct AdPlacementRule {
  std::string name;         // for plans and messages
  std::string ou;           // the entry's DN ends with this DN (case-insensitive); "" = any
  std::string group;        // member, directly or nested, of this group (DN or name); "" = any
  Delivery delivery = Delivery::none;  // cyrus, smtp, none (forward has no placement)
  std::vector<std::string> backends;  // cyrus: back end names; the one with the fewest accounts wins
  std::string smtp_nexthop;           // smtp: Postfix next hop, e.g. [exchange.example.edu]
  unsigned quota_mb = 0;              // 0 = none recorded
};

// Per-run limits; a run beyond any of them changes nothing and exits 75 unless --force.
// Percentages are of the AD-sourced accounts in the database (active ones for disables).
struct AdGates {
  std::uint64_t max_creates = UINT64_MAX;
  double max_creates_percent = 0;    // 0 = no percentage limit
  std::uint64_t max_disables = 100;
  double max_disables_percent = 5;
  std::uint64_t max_deletes = 100;   // pending-delete
  double max_deletes_percent = 5;
};

struct AdConfig {
  bool present = false;
  std::vector<std::string> uris;     // tried in order
  AdBind bind = AdBind::gssapi;
  std::string keytab;                // gssapi: the service account's keytab (mode checked)
  std::string principal;             // gssapi: "" = the first principal in the keytab
  std::string krb5_config;           // "" = the system's (KRB5_CONFIG for this process only)
  std::string bind_dn;               // simple
  std::string password_file;         // simple (mode checked)
  std::string ca_file;               // TLS trust for ldaps:// and StartTLS
  bool starttls = false;             // simple over ldap://: StartTLS first
  unsigned timeout = 30;             // seconds, per network operation
  unsigned page_size = 500;
  std::vector<std::string> bases;
  std::string filter = "(&(objectCategory=person)(objectClass=user))";
  std::string member_of;             // scope: members (nested) of this group, DN or name
  std::string groups_base;           // where group names are looked up ("" = the first base's domain)
  // attribute mapping
  std::string attr_uid = "sAMAccountName";
  std::string attr_given = "givenName";
  std::string attr_surname = "sn";
  std::string attr_display = "displayName";
  std::string attr_mail = "mail";
  std::string attr_proxy = "proxyAddresses";
  std::string attr_anchor = "objectGUID";
  bool primary_from_proxy = true;    // "SMTP:" proxyAddress wins over mail
  bool allow_empty_base = false;     // a base that returns no entries is an error unless set
  // lifecycle
  unsigned disable_after_misses = 3;
  unsigned pending_delete_after_days = 30;  // 0 = never
  unsigned full_sync_hours = 24;
  AdGates gates;
  std::vector<AdPlacementRule> placement;
  std::string lock_name = "mapsync.adsync";
  // metrics.*_textfile: a node_exporter textfile rewritten after every run ("" = none).
  std::string metrics_textfile;
};

// Everything the directory sync job reads.
struct AdsyncSettings {
  std::string path;  // the config file, for messages
  DatabaseConfig database;
  AdConfig ad;
};

}  // namespace mapsync
