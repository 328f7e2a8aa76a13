// imap_client.h - an authenticated IMAP admin session with pipelining, for mboxsync.
//
// Commands are queued with submit() (each gets its tag) and sent together by flush();
// completions are matched to their tags, so many commands are in flight on one
// connection without waiting a round trip each. A server that answers NO is an answer
// (the caller decides); a connection that breaks is an Error (75).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "libmapsync/mailbox/imap_proto.h"
#include "libmapsync/mailbox/options.h"

namespace mapsync {

class Stream;

struct ImapEndpoint {
  std::string host;
  unsigned port = 143;
  ImapTls tls = ImapTls::starttls;
  std::string ca_file;
  std::string tls_name;          // the name the certificate must carry ("" = host)
  std::string user;              // the admin
  std::string password;          // read from the password file by the caller
  bool allow_plaintext = false;  // LOGIN without TLS: only where the config says so
  unsigned timeout = 30;
  // AUTHENTICATE GSSAPI with this process's Kerberos ticket (kerberos.h) instead of the
  // password; the server's service principal is imap/<tls_name, else host>.
  bool gssapi = false;
  // Log in as the admin but act as this user (SASL proxy authorisation: AUTHENTICATE PLAIN
  // or GSSAPI with an authorisation identity; Cyrus lets its admins and proxyservers do
  // it). Used to read what only the owner sees: unseen counts (the owner's seen state).
  std::string authzid;
};

struct ImapResult {
  std::string tag;
  std::string status;  // OK, NO, BAD
  std::string text;    // "[ALREADYEXISTS] Mailbox already exists"
  std::vector<ImapResponse> untagged;  // the untagged responses that arrived with it
  bool ok() const { return status == "OK"; }
  std::string code() const { return imap_response_code(text); }
};

class ImapClient {
 public:
  // Connects, reads the greeting, STARTTLS if asked, logs in (LOGIN, or AUTHENTICATE
  // PLAIN when LOGINDISABLED, or AUTHENTICATE GSSAPI), reads the capabilities. A refused login is Exit::config
  // with the server's words; refusing plaintext without TLS is too.
  explicit ImapClient(const ImapEndpoint& ep);
  ~ImapClient();
  ImapClient(const ImapClient&) = delete;
  ImapClient& operator=(const ImapClient&) = delete;

  bool has(const std::string& capability) const { return caps_.count(capability) > 0; }
  bool literal_plus() const { return has("LITERAL+"); }
  const std::string& peer() const;

  // Queues "TAG command" (command already quoted with imap_string()); returns the tag.
  std::string submit(const std::string& command);
  void flush();
  // The completion of the oldest command in flight (servers answer in order; a tag out
  // of order is a protocol error).
  ImapResult next();
  std::size_t in_flight() const { return pending_.size(); }
  ImapResult run(const std::string& command);  // submit, flush, next
  // How long a read or write may wait from now on (an XFER on an admin session waits
  // longer than a LIST).
  void set_timeout(unsigned seconds);
  void logout();

 private:
  std::string login_name_;  // for messages
  ImapResult login_password(const ImapEndpoint& ep);
  ImapResult login_gssapi(const ImapEndpoint& ep);
  ImapResponse read_response();
  void read_capabilities(const std::string& text);

  ImapEndpoint ep_;
  std::unique_ptr<Stream> s_;
  std::set<std::string> caps_;
  std::deque<std::string> pending_;
  std::uint64_t counter_ = 0;
};

}  // namespace mapsync
