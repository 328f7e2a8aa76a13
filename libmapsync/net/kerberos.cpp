// kerberos.cpp - tickets from a keytab (MIT Kerberos) and SASL GSSAPI client exchanges
// (Cyrus SASL): the one module that includes either library. adsync's LDAP bind and
// mboxsync's IMAP login both come here.
#include "libmapsync/net/kerberos.h"

#include <krb5/krb5.h>
#include <sasl/sasl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "libmapsync/core/error.h"
#include "libmapsync/core/secret.h"

namespace mapsync {

namespace {

class Krb5 {
 public:
  Krb5() {
    if (krb5_error_code rc = krb5_init_context(&ctx_))
      fail(Exit::config, "Kerberos: cannot initialise (krb5.conf unreadable or wrong?): error " + std::to_string(rc));
  }
  ~Krb5() {
    if (cc_) krb5_cc_destroy(ctx_, cc_);  // wipes the ticket from memory
    if (ctx_) krb5_free_context(ctx_);
  }
  Krb5(const Krb5&) = delete;
  Krb5& operator=(const Krb5&) = delete;

  std::string message(krb5_error_code rc) const {
    const char* m = krb5_get_error_message(ctx_, rc);
    std::string s = m ? m : ("error " + std::to_string(rc));
    krb5_free_error_message(ctx_, m);
    return s;
  }

  // Gets a TGT for the principal (or the keytab's first) and puts it into a MEMORY cache
  // that the SASL GSSAPI plugin then finds through KRB5CCNAME. Returns the principal.
  std::string kinit(const KeytabIdentity& id) {
    check_secret_file(id.keytab, id.config_key + ".keytab", "keytab");
    krb5_keytab kt = nullptr;
    if (krb5_error_code rc = krb5_kt_resolve(ctx_, ("FILE:" + id.keytab).c_str(), &kt))
      fail(Exit::config, "Kerberos: keytab " + id.keytab + ": " + message(rc));
    krb5_principal princ = nullptr;
    std::string name = id.principal;
    struct Cleanup {
      krb5_context c;
      krb5_keytab& kt;
      krb5_principal& p;
      ~Cleanup() {
        if (p) krb5_free_principal(c, p);
        if (kt) krb5_kt_close(c, kt);
      }
    } cleanup{ctx_, kt, princ};
    if (!name.empty()) {
      if (krb5_error_code rc = krb5_parse_name(ctx_, name.c_str(), &princ))
        fail(Exit::config, "Kerberos: " + id.config_key + ".principal \"" + name + "\": " + message(rc));
    } else {
      krb5_kt_cursor cur;
      if (krb5_error_code rc = krb5_kt_start_seq_get(ctx_, kt, &cur))
        fail(Exit::config, "Kerberos: cannot read keytab " + id.keytab + ": " + message(rc));
      krb5_keytab_entry e;
      const krb5_error_code rc = krb5_kt_next_entry(ctx_, kt, &e, &cur);
      if (rc == 0) {
        krb5_copy_principal(ctx_, e.principal, &princ);
        krb5_free_keytab_entry_contents(ctx_, &e);
      }
      krb5_kt_end_seq_get(ctx_, kt, &cur);
      if (rc != 0) fail(Exit::config, "Kerberos: keytab " + id.keytab + " holds no keys");
      char* unparsed = nullptr;
      if (krb5_unparse_name(ctx_, princ, &unparsed) == 0) {
        name = unparsed;
        krb5_free_unparsed_name(ctx_, unparsed);
      }
    }
    krb5_get_init_creds_opt* opt = nullptr;
    krb5_get_init_creds_opt_alloc(ctx_, &opt);
    krb5_get_init_creds_opt_set_forwardable(opt, 0);
    krb5_get_init_creds_opt_set_proxiable(opt, 0);
    krb5_creds creds;
    std::memset(&creds, 0, sizeof creds);
    const krb5_error_code rc = krb5_get_init_creds_keytab(ctx_, &creds, princ, kt, 0, nullptr, opt);
    krb5_get_init_creds_opt_free(ctx_, opt);
    if (rc) fail(Exit::tempfail, "Kerberos: cannot get a ticket for " + name + " from keytab " + id.keytab + ": " +
                                     message(rc) + hint(rc));
    const std::string cc_name = "MEMORY:mapsync-" + std::to_string(getpid());
    krb5_error_code crc = krb5_cc_resolve(ctx_, cc_name.c_str(), &cc_);
    if (!crc) crc = krb5_cc_initialize(ctx_, cc_, princ);
    if (!crc) crc = krb5_cc_store_cred(ctx_, cc_, &creds);
    krb5_free_cred_contents(ctx_, &creds);
    if (crc) fail(Exit::oserr, "Kerberos: cannot store the ticket in " + cc_name + ": " + message(crc));
    // Only the GSSAPI library in this process reads it; adsync and mboxsync start no children.
    setenv("KRB5CCNAME", cc_name.c_str(), 1);
    return name;
  }

 private:
  static std::string hint(krb5_error_code rc) {
    switch (rc) {
      case KRB5_KDC_UNREACH: return " (is the KDC up and reachable? see [realms] in krb5.conf)";
      case KRB5KRB_AP_ERR_SKEW: return " (clock skew: this host's clock differs from the KDC's by more than 5 minutes; check NTP)";
      case KRB5KDC_ERR_PREAUTH_FAILED:
      case KRB5KRB_AP_ERR_BAD_INTEGRITY:
        return " (the keytab's key is not the account's: was its password changed? export the keytab again)";
      case KRB5_KT_NOTFOUND:
      case KRB5_KT_KVNONOTFOUND:
        return " (the keytab holds no key of the kind the KDC asks for: export it again)";
      case KRB5KDC_ERR_CLIENT_REVOKED: return " (the account is disabled, locked or expired in AD)";
      case KRB5KDC_ERR_KEY_EXP: return " (the account's password has expired: set it never to expire)";
      case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN: return " (no such account in AD)";
      default: return "";
    }
  }

  krb5_context ctx_ = nullptr;
  krb5_ccache cc_ = nullptr;
};

}  // namespace

struct KerberosLogin::Impl {
  Krb5 krb5;
};

KerberosLogin::KerberosLogin(const KeytabIdentity& id) {
  if (!id.krb5_config.empty()) setenv("KRB5_CONFIG", id.krb5_config.c_str(), 1);
  impl_ = std::make_unique<Impl>();
  principal_ = impl_->krb5.kinit(id);
}

KerberosLogin::~KerberosLogin() = default;

// GSSAPI asks nothing the ticket does not answer; an empty authorization identity means
// "the principal's own".
void sasl_answer_interactions(void* interact) {
  for (auto* i = static_cast<sasl_interact_t*>(interact); i && i->id != SASL_CB_LIST_END; ++i) {
    const char* v = i->defresult ? i->defresult : "";
    i->result = v;
    i->len = static_cast<unsigned>(std::strlen(v));
  }
}

struct GssapiExchange::Impl {
  sasl_conn_t* conn = nullptr;
  std::string where;
  std::string authzid;
  void answer(sasl_interact_t* interact) const {
    sasl_answer_interactions(interact);
    for (auto* i = interact; i && i->id != SASL_CB_LIST_END; ++i)
      if (i->id == SASL_CB_USER && !authzid.empty()) {
        i->result = authzid.c_str();
        i->len = static_cast<unsigned>(authzid.size());
      }
  }
  ~Impl() {
    if (conn) sasl_dispose(&conn);
  }
  [[noreturn]] void failed(int rc, const char* doing) const {
    const char* detail = conn ? sasl_errdetail(conn) : sasl_errstring(rc, nullptr, nullptr);
    fail(Exit::tempfail, where + ": SASL GSSAPI " + doing + " failed: " + (detail ? detail : "error " + std::to_string(rc)));
  }
};

GssapiExchange::GssapiExchange(const std::string& service, const std::string& host, const std::string& authzid)
    : impl_(std::make_unique<Impl>()) {
  impl_->where = service + "/" + host;
  impl_->authzid = authzid;
  static std::once_flag once;
  static int init_rc = SASL_OK;
  std::call_once(once, [] { init_rc = sasl_client_init(nullptr); });
  if (init_rc != SASL_OK) impl_->failed(init_rc, "initialisation");
  const int rc = sasl_client_new(service.c_str(), host.c_str(), nullptr, nullptr, nullptr, 0, &impl_->conn);
  if (rc != SASL_OK) impl_->failed(rc, "setup");
  // The session is under TLS already: no SASL security layer on top of it.
  sasl_security_properties_t props;
  std::memset(&props, 0, sizeof props);
  props.min_ssf = 0;
  props.max_ssf = 0;
  props.maxbufsize = 0;
  props.security_flags = SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS;
  if (sasl_setprop(impl_->conn, SASL_SEC_PROPS, &props) != SASL_OK) impl_->failed(SASL_FAIL, "setup");
}

GssapiExchange::~GssapiExchange() = default;

std::string GssapiExchange::start() {
  sasl_interact_t* interact = nullptr;
  const char* out = nullptr;
  unsigned len = 0;
  const char* mech = nullptr;
  int rc;
  while ((rc = sasl_client_start(impl_->conn, "GSSAPI", &interact, &out, &len, &mech)) == SASL_INTERACT)
    impl_->answer(interact);
  if (rc != SASL_OK && rc != SASL_CONTINUE) impl_->failed(rc, "start");
  return std::string(out ? out : "", len);
}

std::string GssapiExchange::step(std::string_view challenge) {
  sasl_interact_t* interact = nullptr;
  const char* out = nullptr;
  unsigned len = 0;
  int rc;
  while ((rc = sasl_client_step(impl_->conn, challenge.data(), static_cast<unsigned>(challenge.size()), &interact, &out,
                                &len)) == SASL_INTERACT)
    impl_->answer(interact);
  if (rc != SASL_OK && rc != SASL_CONTINUE) impl_->failed(rc, "step");
  return std::string(out ? out : "", len);
}

}  // namespace mapsync
