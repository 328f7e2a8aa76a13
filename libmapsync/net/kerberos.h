// kerberos.h - a Kerberos identity from a keytab and SASL GSSAPI exchanges with it, for
// mboxsync's IMAP admin sessions. adsync's LDAP binds use the same code.
//
// Implemented in kerberos.cpp, the one module that includes MIT Kerberos and Cyrus
// SASL. The ticket goes from the keytab straight into a MEMORY credentials cache of this
// process (no kinit, no file cache); the programs that use it start no children.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace mapsync {

struct KeytabIdentity {
  std::string keytab;       // mode checked: readable by the owner only
  std::string principal;    // "" = the keytab's first
  std::string krb5_config;  // "" = the system's
  std::string config_key;   // for messages: "ad" or "cyrus"
};

// Holds a ticket-granting ticket for the identity for its lifetime (one per process).
// A KDC that cannot be reached, a stale key or clock skew is Exit::tempfail with one
// line naming the cause; an unreadable or open keytab is Exit::config.
class KerberosLogin {
 public:
  explicit KerberosLogin(const KeytabIdentity& id);
  ~KerberosLogin();
  KerberosLogin(const KerberosLogin&) = delete;
  KerberosLogin& operator=(const KerberosLogin&) = delete;
  const std::string& principal() const { return principal_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string principal_;
};

// One SASL GSSAPI client exchange (RFC 4752) with service/host, raw bytes in and out (the
// protocol does the base64). No SASL security layer is negotiated: the session it
// authenticates must run over TLS. Errors are Exit::tempfail with SASL's words.
class GssapiExchange {
 public:
  // authzid: act as this user (SASL proxy authorisation; the server decides whether the
  // principal may), "" = the principal's own identity.
  GssapiExchange(const std::string& service, const std::string& host, const std::string& authzid = {});
  ~GssapiExchange();
  GssapiExchange(const GssapiExchange&) = delete;
  GssapiExchange& operator=(const GssapiExchange&) = delete;

  std::string start();                           // the initial response (may be empty)
  std::string step(std::string_view challenge);  // the answer to a server challenge

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Answers a SASL interaction list (sasl_interact_t*, passed as void* so that callers need
// not include sasl.h) with the defaults: for GSSAPI the ticket answers everything. For
// libldap's ldap_sasl_interactive_bind_s callback.
void sasl_answer_interactions(void* interact);

}  // namespace mapsync
