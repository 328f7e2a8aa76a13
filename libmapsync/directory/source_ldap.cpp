// source_ldap.cpp - Active Directory over LDAP: SASL GSSAPI with a ticket from the keytab
// (or a simple bind over TLS), paged searches.
//
// The only module that includes OpenLDAP. The ticket comes from net/kerberos.h, straight
// from the keytab into a MEMORY credentials cache of this process (no kinit, no file cache
// another user could read), which also gives one clear message per Kerberos failure
// instead of SASL's "generic failure".
#include <lber.h>
#include <ldap.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "libmapsync/directory/directory.h"
#include "libmapsync/core/error.h"
#include "libmapsync/net/kerberos.h"
#include "libmapsync/directory/ldap_escape.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/secret.h"
#include "libmapsync/core/signals.h"

namespace mapsync {

std::string guid_text(const std::string& raw) {
  if (raw.size() != 16) return "(not a GUID)";
  const auto* b = reinterpret_cast<const unsigned char*>(raw.data());
  static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[order[i]] >> 4];
    out += hex[b[order[i]] & 15];
  }
  return out;
}

std::string user_filter(const AdConfig& ad, const std::string& member_of_dn, const SearchScope& scope) {
  std::string extra;
  if (!member_of_dn.empty()) extra += ldap_equality_filter("memberOf:1.2.840.113556.1.4.1941:", member_of_dn);
  // AD has no '>' in filters: uSNChanged >= last + 1.
  if (scope.usn_above > 0) extra += "(uSNChanged>=" + std::to_string(scope.usn_above + 1) + ")";
  if (!scope.only_uid.empty()) extra += ldap_equality_filter(ad.attr_uid, scope.only_uid);
  if (extra.empty()) return ad.filter;
  // Samba evaluates a nested (&(&...)...) measurably slower than one flat AND: add the
  // clauses to the configured AND rather than wrapping it. Only a filter that is one AND
  // as a whole ("(&(a)(b))", not "(&(a))(b)") may be opened.
  const std::string& f = ad.filter;
  if (f.size() > 3 && f.compare(0, 2, "(&") == 0) {
    int depth = 0;
    std::size_t close = std::string::npos;
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (f[i] == '\\') {
        ++i;
        continue;
      }
      if (f[i] == '(') ++depth;
      if (f[i] == ')' && --depth == 0) {
        close = i;
        break;
      }
    }
    if (close == f.size() - 1) return f.substr(0, f.size() - 1) + extra + ")";
  }
  return "(&" + f + extra + ")";
}

namespace {

// ---- LDAP -----------------------------------------------------------------------------

int sasl_defaults(LDAP*, unsigned, void*, void* in) {
  sasl_answer_interactions(in);
  return LDAP_SUCCESS;
}

struct LdapMessageFree {
  void operator()(LDAPMessage* m) const {
    if (m) ldap_msgfree(m);
  }
};
using MessagePtr = std::unique_ptr<LDAPMessage, LdapMessageFree>;

std::string diagnostic(LDAP* ld) {
  char* msg = nullptr;
  ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg);
  std::string s = msg ? msg : "";
  if (msg) ldap_memfree(msg);
  return s;
}

std::string ldap_text(LDAP* ld, int rc) {
  std::string s = ldap_err2string(rc);
  const std::string d = diagnostic(ld);
  if (!d.empty()) s += " (" + d + ")";
  return s;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string domain_of(const std::string& dn) {
  // The DC=... tail of a DN: where a group named without a DN is looked up.
  std::string out;
  std::size_t pos = 0;
  while (pos < dn.size()) {
    std::size_t comma = dn.find(',', pos);
    while (comma != std::string::npos && comma > 0 && dn[comma - 1] == '\\') comma = dn.find(',', comma + 1);
    const std::string rdn = dn.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (rdn.size() > 3 && iequal(rdn.substr(0, 3), "DC=")) out += (out.empty() ? "" : ",") + rdn;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// A configured group is a DN when it parses as one ("CN=Staff,OU=Groups,DC=..."), else a
// name: "Mail *)(cn=*" contains '=' but is no DN.
bool is_dn(const std::string& s) {
  LDAPDN dn = nullptr;
  const bool ok = ldap_str2dn(s.c_str(), &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && dn && dn[0];
  if (dn) ldap_dnfree(dn);
  return ok;
}

std::uint64_t to_u64(const std::string& s) {
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return v;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v;
}

class LdapDirectory final : public Directory {
 public:
  explicit LdapDirectory(const AdConfig& ad) : ad_(ad) {
    if (ad.bind == AdBind::gssapi) {
      krb5_ = std::make_unique<KerberosLogin>(KeytabIdentity{ad.keytab, ad.principal, ad.krb5_config, "ad"});
      bound_as_ = krb5_->principal();
    } else {
      bound_as_ = ad.bind_dn;
    }
    std::string errors;
    for (const std::string& uri : ad.uris) {
      try {
        bind(uri);
        dc_.uri = uri;
        read_dc_info();
        return;
      } catch (const Error& e) {
        close();  // a constructor that throws is not destroyed: the handle would leak (ASan)
        if (e.status() != Exit::tempfail || &uri == &ad.uris.back()) {
          if (!errors.empty() && e.status() == Exit::tempfail)
            fail(e.status(), std::string(e.what()) + "; before that: " + errors);
          throw;
        }
        log::warning(std::string(e.what()) + "; trying the next URI");
        errors += (errors.empty() ? "" : "; ") + std::string(e.what());
      }
    }
  }

  ~LdapDirectory() override { close(); }

  const DcInfo& dc() const override { return dc_; }
  const std::string& bound_as() const override { return bound_as_; }
  int ssf() const override { return ssf_; }

  void search_users(const SearchScope& scope, const std::function<void(DirEntry&&)>& fn) override {
    const std::string filter = user_filter(ad_, member_of_dn(), scope);
    std::vector<std::string> names = {ad_.attr_anchor, ad_.attr_uid,  ad_.attr_given, ad_.attr_surname,
                                      ad_.attr_display, ad_.attr_mail, ad_.attr_proxy, "userAccountControl",
                                      "uSNChanged"};
    std::unordered_set<std::string> seen;
    for (const std::string& base : ad_.bases) {
      std::size_t in_base = 0;
      paged_search(base, filter, names, [&](LDAPMessage* e) {
        DirEntry d = parse_entry(e);
        ++in_base;
        if (!seen.insert(d.anchor).second) return;  // overlapping bases
        fn(std::move(d));
      });
      log::debug("ldap: " + base + ": " + std::to_string(in_base) + " entries for " + filter);
      // With a group scope one base may hold none of the members; then only the whole
      // search must find someone.
      if (in_base == 0 && ad_.member_of.empty()) empty_result(base, filter, scope);
    }
    if (seen.empty()) empty_result(ad_.bases.size() == 1 ? ad_.bases.front() : "every base", filter, scope);
  }

  void probe_bases(const std::vector<std::string>& known_dns) override {
    const std::string filter = user_filter(ad_, member_of_dn(), {});
    std::size_t total = 0;
    for (const std::string& base : ad_.bases) {
      if (visible_known_entry(base, known_dns, filter)) {
        ++total;
        continue;
      }
      int msgid = 0;
      struct timeval tv = timeout();
      char* attrs[] = {const_cast<char*>(LDAP_NO_ATTRS), nullptr};
      int rc = ldap_search_ext(ld_, base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), attrs, 0, nullptr, nullptr, &tv, 1,
                               &msgid);
      if (rc != LDAP_SUCCESS) search_failed(base, filter, rc);
      std::size_t entries = 0;
      for (;;) {
        LDAPMessage* raw = nullptr;
        tv = timeout();
        rc = ldap_result(ld_, msgid, LDAP_MSG_ONE, &tv, &raw);
        MessagePtr msg(raw);
        if (rc == 0) fail(Exit::tempfail, where() + ": search of " + base + " timed out after " + std::to_string(ad_.timeout) + " s");
        if (rc < 0) search_failed(base, filter, rc);
        if (rc == LDAP_RES_SEARCH_ENTRY) ++entries;
        if (rc != LDAP_RES_SEARCH_RESULT) continue;
        int err = 0;
        ldap_parse_result(ld_, msg.get(), &err, nullptr, nullptr, nullptr, nullptr, 0);
        if (err != LDAP_SUCCESS && err != LDAP_SIZELIMIT_EXCEEDED) search_failed(base, filter, err);
        break;
      }
      total += entries;
      if (entries == 0 && !ad_.allow_empty_base && ad_.member_of.empty()) probe_failed(base, filter);
    }
    if (total == 0 && !ad_.allow_empty_base) probe_failed("every base", filter);
  }

  // True when one of up to three known entries below base can still be read.
  bool visible_known_entry(const std::string& base, const std::vector<std::string>& known_dns, const std::string& filter) {
    int tried = 0;
    for (const std::string& dn : known_dns) {
      if (!dn_below(dn, base)) continue;
      if (++tried > 3) break;
      bool seen = false;
      try {
        paged_search(dn, filter, {"1.1"}, [&](LDAPMessage*) { seen = true; }, LDAP_SCOPE_BASE, false);
      } catch (const Error&) {
        continue;  // moved or deleted since: try another, or search
      }
      if (seen) return true;
    }
    return false;
  }

  static bool dn_below(std::string_view dn, std::string_view base) {
    if (dn.size() <= base.size()) return false;
    if (!iequal(dn.substr(dn.size() - base.size()), base)) return false;
    return dn[dn.size() - base.size() - 1] == ',';
  }

  [[noreturn]] void probe_failed(const std::string& base, const std::string& filter) {
    fail(Exit::tempfail, where() + ": " + base + " shows no entries for " + filter + " (has " + bound_as_ +
                             " lost read rights?); nothing applied");
  }

  std::string group_dn(const std::string& dn_or_name) override {
    std::string base, filter;
    const bool dn = is_dn(dn_or_name);
    if (dn) {
      base = dn_or_name;
      filter = "(objectClass=group)";
    } else {
      base = ad_.groups_base.empty() ? domain_of(ad_.bases.front()) : ad_.groups_base;
      filter = "(&(objectClass=group)(|" + ldap_equality_filter("cn", dn_or_name) +
               ldap_equality_filter("sAMAccountName", dn_or_name) + "))";
    }
    std::vector<std::string> found;
    paged_search(base, filter, {"cn"}, [&](LDAPMessage* e) {
      char* name = ldap_get_dn(ld_, e);
      if (name) found.emplace_back(name);
      ldap_memfree(name);
    }, dn ? LDAP_SCOPE_BASE : LDAP_SCOPE_SUBTREE);
    if (found.size() != 1)
      fail(Exit::config, where() + ": group \"" + dn_or_name + "\" matches " + std::to_string(found.size()) +
                             " groups under " + base + " (exactly one needed)");
    return found.front();
  }

  std::vector<std::string> nested_member_anchors(const std::string& dn) override {
    std::vector<std::string> out;
    const std::string filter =
        "(&" + ad_.filter + ldap_equality_filter("memberOf:1.2.840.113556.1.4.1941:", dn) + ")";
    for (const std::string& base : ad_.bases)
      paged_search(base, filter, {ad_.attr_anchor}, [&](LDAPMessage* e) {
        const DirEntry d = parse_entry(e);
        out.push_back(d.anchor);
      });
    return out;
  }

 private:
  std::string where() const { return "AD " + dc_.uri; }

  void empty_result(const std::string& base, const std::string& filter, const SearchScope& scope) {
    if (scope.usn_above > 0 || !scope.only_uid.empty() || ad_.allow_empty_base) return;
    fail(Exit::tempfail, where() + ": search of " + base + " returned no entries (filter " + filter +
                             "); refusing to treat that as \"everybody left\" (has " + bound_as_ +
                             " lost read rights? set ad.allow_empty_base if the base is really empty)");
  }

  struct timeval timeout() const {
    struct timeval tv {};
    tv.tv_sec = static_cast<time_t>(ad_.timeout);
    return tv;
  }

  void close() {
    if (ld_) ldap_unbind_ext_s(ld_, nullptr, nullptr);
    ld_ = nullptr;
  }

  void set(int option, const void* value, const std::string& what) {
    if (ldap_set_option(ld_, option, value) != LDAP_OPT_SUCCESS) fail(Exit::software, "ldap: cannot set " + what);
  }

  void bind(const std::string& uri) {
    dc_.uri = uri;
    if (ldap_initialize(&ld_, uri.c_str()) != LDAP_SUCCESS) fail(Exit::config, "ad.uris: cannot use \"" + uri + "\"");
    const int version = LDAP_VERSION3;
    set(LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version 3");
    set(LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "referrals off");  // a referral is never chased with our credentials
    struct timeval tv = timeout();
    set(LDAP_OPT_NETWORK_TIMEOUT, &tv, "network timeout");
    set(LDAP_OPT_TIMEOUT, &tv, "timeout");
    if (!ad_.ca_file.empty()) {
      set(LDAP_OPT_X_TLS_CACERTFILE, ad_.ca_file.c_str(), "TLS CA file");
    }
    const int hard = LDAP_OPT_X_TLS_HARD;
    set(LDAP_OPT_X_TLS_REQUIRE_CERT, &hard, "TLS certificate check");
    const int zero = 0;
    set(LDAP_OPT_X_TLS_NEWCTX, &zero, "TLS context");
    if (ad_.starttls && uri.rfind("ldap://", 0) == 0) {
      const int rc = ldap_start_tls_s(ld_, nullptr, nullptr);
      if (rc != LDAP_SUCCESS) fail(Exit::tempfail, where() + ": StartTLS failed: " + ldap_text(ld_, rc));
    }
    if (ad_.bind == AdBind::gssapi) {
      // The DC's name is used as given (no reverse DNS): the ticket is for ldap/<name in the URI>.
      set(LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON, "SASL no-canonicalise");
      // minssf=56: integrity AND confidentiality (seal), as AD's "require signing" expects and more.
      set(LDAP_OPT_X_SASL_SECPROPS, "minssf=56,noplain,noanonymous", "SASL security properties");
      const int rc = ldap_sasl_interactive_bind_s(ld_, nullptr, "GSSAPI", nullptr, nullptr, LDAP_SASL_QUIET, sasl_defaults,
                                                  nullptr);
      if (rc != LDAP_SUCCESS) bind_failed(rc);
      ber_len_t ssf = 0;
      ldap_get_option(ld_, LDAP_OPT_X_SASL_SSF, &ssf);
      ssf_ = static_cast<int>(ssf);
      if (ssf_ < 56) fail(Exit::tempfail, where() + ": GSSAPI bind without sealing (SSF " + std::to_string(ssf_) + ")");
    } else {
      std::string password = read_secret_file(ad_.password_file, "ad.password_file");
      struct berval cred;
      cred.bv_val = password.data();
      cred.bv_len = password.size();
      const int rc = ldap_sasl_bind_s(ld_, ad_.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
      wipe(password);
      if (rc != LDAP_SUCCESS) bind_failed(rc);
    }
    log::debug(where() + ": bound as " + bound_as_ + (ssf_ ? " (SASL SSF " + std::to_string(ssf_) + ")" : " (TLS)"));
  }

  [[noreturn]] void bind_failed(int rc) {
    std::string msg = where() + ": cannot bind as " + bound_as_ + ": " + ldap_text(ld_, rc);
    if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT) msg += " (is the DC up and reachable?)";
    else if (rc == LDAP_STRONG_AUTH_REQUIRED) msg += " (the DC wants TLS or sealing)";
    // Every bind failure is temporary: a password rotated in AD, a DC that is restarting
    // or a KDC that lost our key are fixed without touching the config.
    fail(Exit::tempfail, msg);
  }

  [[noreturn]] void search_failed(const std::string& base, const std::string& filter, int rc) {
    std::string msg = where() + ": search of " + base + " failed: " + ldap_text(ld_, rc);
    Exit status = Exit::tempfail;
    if (rc == LDAP_NO_SUCH_OBJECT) msg += " (no such base, or " + bound_as_ + " may not read it)";
    else if (rc == LDAP_SIZELIMIT_EXCEEDED) msg += " (size limit: the result would be partial)";
    else if (rc == LDAP_FILTER_ERROR) {
      msg += " (filter " + filter + ")";
      status = Exit::config;
    } else if (rc == LDAP_REFERRAL) {
      msg += " (the base is not in this DC's domain)";
      status = Exit::config;
    }
    fail(status, msg + "; nothing applied");
  }

  // Reads the rootDSE, then the DC's NTDS Settings for its invocationId.
  void read_dc_info() {
    paged_search("", "(objectClass=*)", {"dnsHostName", "dsServiceName", "highestCommittedUSN"}, [&](LDAPMessage* e) {
      for_each_attr(e, [&](const std::string& name, berval** vals) {
        const std::string v(vals[0]->bv_val, vals[0]->bv_len);
        if (iequal(name, "dnsHostName")) dc_.dns_host_name = v;
        else if (iequal(name, "dsServiceName")) dc_.ds_service_name = v;
        else if (iequal(name, "highestCommittedUSN")) dc_.highest_usn = to_u64(v);
      });
    }, LDAP_SCOPE_BASE, false);
    if (dc_.ds_service_name.empty() || dc_.highest_usn == 0)
      fail(Exit::tempfail, where() + ": the rootDSE has no dsServiceName/highestCommittedUSN: is this an AD DC?");
    try {
      paged_search(dc_.ds_service_name, "(objectClass=*)", {"invocationId"}, [&](LDAPMessage* e) {
        for_each_attr(e, [&](const std::string& name, berval** vals) {
          if (iequal(name, "invocationId")) dc_.invocation_id = guid_text(std::string(vals[0]->bv_val, vals[0]->bv_len));
        });
      }, LDAP_SCOPE_BASE, false);
    } catch (const Error& e) {
      log::debug(std::string("cannot read the DC's invocationId: ") + e.what());
    }
    if (dc_.invocation_id.empty()) dc_.invocation_id = "unknown";
  }

  std::string member_of_dn() {
    if (ad_.member_of.empty()) return {};
    if (member_of_cache_.empty()) member_of_cache_ = group_dn(ad_.member_of);
    return member_of_cache_;
  }

  template <class Fn>
  void for_each_attr(LDAPMessage* e, Fn fn) {
    BerElement* ber = nullptr;
    for (char* a = ldap_first_attribute(ld_, e, &ber); a; a = ldap_next_attribute(ld_, e, ber)) {
      berval** vals = ldap_get_values_len(ld_, e, a);
      if (vals && vals[0]) fn(std::string(a), vals);
      if (vals) ldap_value_free_len(vals);
      ldap_memfree(a);
    }
    if (ber) ber_free(ber, 0);
  }

  DirEntry parse_entry(LDAPMessage* e) {
    char* dn = ldap_get_dn(ld_, e);
    const std::string dn_text = dn ? dn : "";
    ldap_memfree(dn);
    std::vector<DirAttribute> attrs;
    for_each_attr(e, [&](const std::string& name, berval** vals) {
      DirAttribute& a = attrs.emplace_back();
      a.name = name;
      for (berval** v = vals; *v; ++v) a.values.emplace_back((*v)->bv_val, (*v)->bv_len);
    });
    return dir_entry_from(ad_, dn_text, attrs, where());
  }

  // One search, paged (AD answers at most MaxPageSize, 1000 by default, without paging).
  // fn gets every entry; references (other naming contexts) are skipped; anything but
  // success at the end throws.
  template <class Fn>
  void paged_search(const std::string& base, const std::string& filter, const std::vector<std::string>& names, Fn fn,
                    int scope = LDAP_SCOPE_SUBTREE, bool paged = true) {
    std::vector<char*> attrs;
    for (const auto& n : names) attrs.push_back(const_cast<char*>(n.c_str()));
    attrs.push_back(nullptr);
    struct berval cookie {};
    std::string cookie_bytes;
    do {
      check_interrupted();  // SIGTERM between pages: nothing has been applied yet
      LDAPControl* page = nullptr;
      if (paged) {
        cookie.bv_val = cookie_bytes.empty() ? nullptr : cookie_bytes.data();
        cookie.bv_len = cookie_bytes.size();
        if (ldap_create_page_control(ld_, static_cast<ber_int_t>(ad_.page_size), &cookie, 1, &page) != LDAP_SUCCESS)
          fail(Exit::software, "ldap: cannot create the paged results control");
      }
      LDAPControl* ctrls[] = {page, nullptr};
      struct timeval tv = timeout();
      int msgid = 0;
      int rc = ldap_search_ext(ld_, base.c_str(), scope, filter.c_str(), attrs.data(), 0, page ? ctrls : nullptr, nullptr,
                               &tv, LDAP_NO_LIMIT, &msgid);
      if (page) ldap_control_free(page);
      if (rc != LDAP_SUCCESS) search_failed(base, filter, rc);
      cookie_bytes.clear();
      for (;;) {
        LDAPMessage* raw = nullptr;
        tv = timeout();
        rc = ldap_result(ld_, msgid, LDAP_MSG_ONE, &tv, &raw);
        MessagePtr msg(raw);
        if (rc == 0) {
          ldap_abandon_ext(ld_, msgid, nullptr, nullptr);
          fail(Exit::tempfail, where() + ": search of " + base + " timed out after " + std::to_string(ad_.timeout) +
                                   " s; nothing applied");
        }
        if (rc < 0) {
          int err = 0;
          ldap_get_option(ld_, LDAP_OPT_RESULT_CODE, &err);
          search_failed(base, filter, err ? err : rc);
        }
        if (rc == LDAP_RES_SEARCH_ENTRY) {
          fn(msg.get());
          continue;
        }
        if (rc == LDAP_RES_SEARCH_REFERENCE) continue;
        if (rc != LDAP_RES_SEARCH_RESULT) continue;
        int err = 0;
        LDAPControl** rctrls = nullptr;
        if (ldap_parse_result(ld_, msg.get(), &err, nullptr, nullptr, nullptr, &rctrls, 0) != LDAP_SUCCESS)
          search_failed(base, filter, LDAP_DECODING_ERROR);
        if (err != LDAP_SUCCESS) {
          if (rctrls) ldap_controls_free(rctrls);
          search_failed(base, filter, err);
        }
        if (paged && rctrls) {
          if (LDAPControl* pc = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, nullptr)) {
            ber_int_t estimate = 0;
            struct berval next {};
            if (ldap_parse_pageresponse_control(ld_, pc, &estimate, &next) == LDAP_SUCCESS && next.bv_len > 0) {
              cookie_bytes.assign(next.bv_val, next.bv_len);
              ber_memfree(next.bv_val);
            }
          }
        }
        if (rctrls) ldap_controls_free(rctrls);
        break;
      }
    } while (!cookie_bytes.empty());
  }

  const AdConfig& ad_;
  std::unique_ptr<KerberosLogin> krb5_;
  LDAP* ld_ = nullptr;
  DcInfo dc_;
  std::string bound_as_;
  std::string member_of_cache_;
  int ssf_ = 0;
};

}  // namespace

DirEntry dir_entry_from(const AdConfig& ad, const std::string& dn, const std::vector<DirAttribute>& attrs,
                        const std::string& where) {
  DirEntry d;
  d.dn = dn;
  for (const DirAttribute& a : attrs) {
    if (a.values.empty()) continue;
    const std::string& name = a.name;
    const std::string& first = a.values.front();
    if (name.find(";range=") != std::string::npos)
      fail(Exit::tempfail, where + ": " + d.dn + ": " + name + ": more values than one reply holds (ranged retrieval is not supported)");
    if (iequal(name, ad.attr_anchor)) d.anchor = first;
    else if (iequal(name, ad.attr_uid)) d.uid = first;
    else if (iequal(name, ad.attr_given)) d.given_name = first;
    else if (iequal(name, ad.attr_surname)) d.surname = first;
    else if (iequal(name, ad.attr_display)) d.display_name = first;
    else if (iequal(name, ad.attr_mail)) d.mail = first;
    else if (iequal(name, ad.attr_proxy)) d.proxy_addresses.insert(d.proxy_addresses.end(), a.values.begin(), a.values.end());
    else if (iequal(name, "userAccountControl")) d.user_account_control = static_cast<std::uint32_t>(to_u64(first));
    else if (iequal(name, "uSNChanged")) d.usn_changed = to_u64(first);
  }
  if (d.anchor.size() != 16)
    fail(Exit::data, where + ": " + d.dn + ": " + ad.attr_anchor + " is missing or not a 16-byte GUID");
  return d;
}

std::unique_ptr<Directory> Directory::connect(const AdConfig& ad) { return std::make_unique<LdapDirectory>(ad); }

}  // namespace mapsync
