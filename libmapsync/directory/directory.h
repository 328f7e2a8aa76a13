// directory.h - Active Directory as adsync sees it: user entries and the DC's state.
//
// source_ldap.cpp, the only module that includes OpenLDAP, implements it. A search either returns every entry in scope or throws: a failed,
// partial or size-limited search is an Error (75), never a short list, because a short
// list would look like accounts that left.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libmapsync/directory/options.h"

namespace mapsync {

struct DirEntry {
  std::string dn;
  std::string anchor;   // objectGUID, 16 raw bytes
  std::string uid;
  std::string given_name;
  std::string surname;
  std::string display_name;
  std::string mail;
  std::vector<std::string> proxy_addresses;  // as stored: "SMTP:a@b", "smtp:c@d", "X500:..."
  std::uint32_t user_account_control = 0;
  std::uint64_t usn_changed = 0;
  bool disabled() const { return (user_account_control & 0x2u) != 0; }  // ACCOUNTDISABLE, never "== 514"
};

// The rootDSE and NTDS Settings of the DC we talk to.
struct DcInfo {
  std::string uri;              // the URI that answered
  std::string dns_host_name;
  std::string ds_service_name;  // DN of its NTDS Settings object: which DC this is
  std::string invocation_id;    // GUID text; changes when the DC's database is restored
  std::uint64_t highest_usn = 0;
};

struct SearchScope {
  std::uint64_t usn_above = 0;  // > 0: only entries with uSNChanged above this (incremental)
  std::string only_uid;         // non-empty: only this user name (adsync plan --user)
};

class Directory {
 public:
  // Binds to the first URI of ad.uris that answers (GSSAPI from the keytab, or simple
  // over TLS). Kerberos and LDAP failures are one line naming the cause, Exit::tempfail;
  // a keytab or password file that is missing or too open is Exit::config.
  static std::unique_ptr<Directory> connect(const AdConfig& ad);
  virtual ~Directory() = default;

  virtual const DcInfo& dc() const = 0;
  virtual const std::string& bound_as() const = 0;  // principal or DN, for the audit log
  virtual int ssf() const = 0;                       // SASL security strength (0 with TLS/simple)

  // Every user entry in scope (all bases, deduplicated by anchor), one page at a time.
  virtual void search_users(const SearchScope& scope, const std::function<void(DirEntry&&)>& fn) = 0;
  // Fails (75) unless every base holds at least one entry matching the filter: after an
  // incremental search that found nothing, this tells "no changes" from "cannot see".
  // known_dns (entries seen before) are read first, by DN: one visible is enough for its
  // base, and costs a base-scope read instead of a search of the whole base.
  virtual void probe_bases(const std::vector<std::string>& known_dns) = 0;
  // The DN of a group given as a DN or by name (cn or sAMAccountName): exactly one match.
  virtual std::string group_dn(const std::string& dn_or_name) = 0;
  // Anchors of the users that are members of group_dn, directly or nested.
  virtual std::vector<std::string> nested_member_anchors(const std::string& group_dn) = 0;
};

// The filter a search uses (base filter, group scope, incremental clause), exposed for
// tests and for adsync plan -v.
std::string user_filter(const AdConfig& ad, const std::string& member_of_dn, const SearchScope& scope);

// One attribute of a search result entry, its values as the server sent them.
struct DirAttribute {
  std::string name;
  std::vector<std::string> values;
};

// The attribute mapping (ad.attr_*): the DirEntry a search result entry stands for. Kept
// apart from libldap so that tests and the fuzzer reach it without a server; where names
// the server in messages. Throws tempfail for a ranged attribute (";range=": values
// missing), data when the anchor is missing or not 16 bytes.
DirEntry dir_entry_from(const AdConfig& ad, const std::string& dn, const std::vector<DirAttribute>& attrs,
                        const std::string& where);

// "{xxxxxxxx-xxxx-...}" text of a 16-byte GUID as AD prints it (first three fields little-endian).
std::string guid_text(const std::string& raw);

}  // namespace mapsync
