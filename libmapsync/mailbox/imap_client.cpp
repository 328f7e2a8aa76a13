// imap_client.cpp - IMAP admin sessions over stream.h.
#include "libmapsync/mailbox/imap_client.h"

#include <algorithm>
#include <cctype>

#include "libmapsync/core/digest.h"
#include "libmapsync/core/error.h"
#include "libmapsync/net/kerberos.h"
#include "libmapsync/core/secret.h"
#include "libmapsync/net/stream.h"

namespace mapsync {
namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

}  // namespace

ImapClient::ImapClient(const ImapEndpoint& ep) : ep_(ep) {
  s_ = Stream::connect(ep.host, ep.port, ep.timeout);
  TlsOptions tls{ep.ca_file, ep.tls_name.empty() ? ep.host : ep.tls_name};
  if (ep.tls == ImapTls::imaps) s_->start_tls(tls);
  ImapResponse greeting = read_response();
  if (greeting.tag != "*" || (greeting.status != "OK" && greeting.status != "PREAUTH"))
    fail(Exit::tempfail, peer() + ": unexpected greeting: " + greeting.status + " " + greeting.text);
  read_capabilities(greeting.text);
  if (caps_.empty()) read_capabilities("[CAPABILITY " + [&] {
    ImapResult r = run("CAPABILITY");
    for (const auto& u : r.untagged)
      if (u.status == "CAPABILITY") return u.text;
    return std::string();
  }() + "]");
  if (ep.tls == ImapTls::starttls) {
    if (!has("STARTTLS")) fail(Exit::config, peer() + ": the server offers no STARTTLS (tls: starttls in the config)");
    ImapResult r = run("STARTTLS");
    if (!r.ok()) fail(Exit::tempfail, peer() + ": STARTTLS refused: " + r.text);
    s_->start_tls(tls);
    caps_.clear();  // RFC 3501: capabilities before TLS are forgotten
    ImapResult c = run("CAPABILITY");
    for (const auto& u : c.untagged)
      if (u.status == "CAPABILITY") read_capabilities("[CAPABILITY " + u.text + "]");
  }
  if (!s_->encrypted() && !ep.allow_plaintext)
    fail(Exit::config, peer() + ": refusing to log in as the admin without TLS (set tls: starttls or imaps, or "
                                "allow_plaintext: true for a loopback-only test)");
  const ImapResult r = ep.gssapi ? login_gssapi(ep) : login_password(ep);
  if (!r.ok())
    fail(Exit::config, peer() + ": login as " + (ep.gssapi ? login_name_ : ep.user) +
                           (ep.authzid.empty() ? "" : " acting as " + ep.authzid) + " refused: " + r.status + " " + r.text +
                           (ep.gssapi ? " (is the principal a Cyrus admin? see admins and loginrealms in imapd.conf)"
                                      : " (check the admin user and its password file)"));
  read_capabilities(r.text);  // servers often send new capabilities after login
  if (r.code() != "CAPABILITY") {
    ImapResult c = run("CAPABILITY");
    for (const auto& u : c.untagged)
      if (u.status == "CAPABILITY") read_capabilities("[CAPABILITY " + u.text + "]");
  }
}

ImapResult ImapClient::login_password(const ImapEndpoint& ep) {
  std::string password = ep.password;
  ImapResult r;
  if (has("LOGINDISABLED") || !imap_string_ok(password) || !ep.authzid.empty()) {
    // AUTHENTICATE PLAIN: authzid (empty: our own), authcid, password; base64 on one line.
    std::string token = ep.authzid + std::string(1, '\0') + ep.user + std::string(1, '\0') + password;
    const std::string tag = "L" + std::to_string(++counter_);
    s_->write(tag + " AUTHENTICATE PLAIN\r\n");
    s_->flush();
    ImapResponse cont = read_response();
    if (cont.tag != "+") fail(Exit::tempfail, peer() + ": AUTHENTICATE PLAIN not accepted: " + cont.status + " " + cont.text);
    std::string encoded = base64_encode(token) + "\r\n";
    wipe(token);
    s_->write(encoded);
    wipe(encoded);
    s_->flush();
    pending_.push_back(tag);
    r = next();
  } else {
    // A password with 8-bit bytes or CR/LF needs a literal: without LITERAL+ wait for "+".
    const std::string quoted_user = imap_string(ep.user, true);
    std::string quoted_pw = imap_string(password, literal_plus());
    const std::string tag = "L" + std::to_string(++counter_);
    const bool sync_literal = !literal_plus() && !quoted_pw.empty() && quoted_pw[0] == '{';
    if (sync_literal) {
      const auto header_end = quoted_pw.find("\r\n") + 2;
      s_->write(tag + " LOGIN " + quoted_user + " " + quoted_pw.substr(0, header_end));
      s_->flush();
      ImapResponse cont = read_response();
      if (cont.tag != "+") fail(Exit::tempfail, peer() + ": LOGIN literal refused: " + cont.text);
      s_->write(quoted_pw.substr(header_end) + "\r\n");
    } else {
      s_->write(tag + " LOGIN " + quoted_user + " " + quoted_pw + "\r\n");
    }
    wipe(quoted_pw);
    s_->flush();
    pending_.push_back(tag);
    r = next();
  }
  wipe(password);
  return r;
}

ImapResult ImapClient::login_gssapi(const ImapEndpoint& ep) {
  if (!has("AUTH=GSSAPI")) fail(Exit::config, peer() + ": the server offers no AUTHENTICATE GSSAPI (auth: gssapi in the config)");
  const std::string& host = !ep.tls_name.empty() ? ep.tls_name : ep.host;
  login_name_ = "the Kerberos principal (GSSAPI to imap/" + host + ")";
  GssapiExchange sasl("imap", host, ep.authzid);
  const std::string initial = sasl.start();
  const std::string tag = "L" + std::to_string(++counter_);
  // Without SASL-IR the initial response waits for the server's first (empty) challenge.
  const bool ir = has("SASL-IR");
  s_->write(tag + " AUTHENTICATE GSSAPI" + (ir ? " " + (initial.empty() ? std::string("=") : base64_encode(initial)) : "") +
            "\r\n");
  s_->flush();
  bool initial_sent = ir;
  for (;;) {
    ImapResponse resp = read_response();
    if (resp.tag == "*") continue;
    if (resp.tag != "+") {
      if (resp.tag != tag) fail(Exit::tempfail, peer() + ": unexpected reply during AUTHENTICATE: " + resp.tag + " " + resp.status);
      ImapResult r;
      r.tag = resp.tag;
      r.status = resp.status;
      r.text = resp.text;
      return r;
    }
    std::string answer;
    if (!initial_sent) {
      answer = initial;
      initial_sent = true;
    } else {
      std::string challenge;
      if (!base64_decode(resp.text, challenge)) {
        s_->write("*\r\n");  // cancels the exchange (RFC 3501 6.2.2)
        s_->flush();
        fail(Exit::tempfail, peer() + ": AUTHENTICATE GSSAPI: the server's challenge is not base64");
      }
      answer = sasl.step(challenge);
    }
    s_->write(base64_encode(answer) + "\r\n");
    s_->flush();
  }
}

ImapClient::~ImapClient() = default;

const std::string& ImapClient::peer() const { return s_->peer(); }

void ImapClient::read_capabilities(const std::string& text) {
  if (upper(text.substr(0, 12)) != "[CAPABILITY ") return;
  const auto end = text.find(']');
  std::string list = text.substr(12, end == std::string::npos ? std::string::npos : end - 12);
  std::size_t pos = 0;
  while (pos < list.size()) {
    const auto sp = list.find(' ', pos);
    const std::string cap = list.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos);
    if (!cap.empty()) caps_.insert(upper(cap));
    if (sp == std::string::npos) break;
    pos = sp + 1;
  }
}

ImapResponse ImapClient::read_response() {
  std::string line = s_->read_line();
  // A line that ends in {n} announces n bytes of literal, then the line continues.
  while (const std::optional<std::size_t> n = imap_literal_size(line)) {
    if (*n > (1u << 24)) fail(Exit::tempfail, peer() + ": a literal of " + std::to_string(*n) + " bytes in a response");
    line += "\r\n" + s_->read_exact(*n);
    line += s_->read_line();
  }
  return parse_imap_response(line);
}

std::string ImapClient::submit(const std::string& command) {
  const std::string tag = "M" + std::to_string(++counter_);
  s_->write(tag + " " + command + "\r\n");
  pending_.push_back(tag);
  return tag;
}

void ImapClient::flush() { s_->flush(); }

ImapResult ImapClient::next() {
  if (pending_.empty()) fail(Exit::software, peer() + ": waiting for a reply to no command");
  ImapResult r;
  r.tag = pending_.front();
  for (;;) {
    ImapResponse resp = read_response();
    if (resp.tag == "*") {
      if (resp.status == "BYE") fail(Exit::tempfail, peer() + ": the server closed the session: " + resp.text);
      r.untagged.push_back(std::move(resp));
      continue;
    }
    if (resp.tag == "+") fail(Exit::software, peer() + ": unexpected continuation request: " + resp.text);
    if (resp.tag != r.tag)
      fail(Exit::tempfail, peer() + ": reply for " + resp.tag + " while waiting for " + r.tag + " (out of order)");
    r.status = resp.status;
    r.text = resp.text;
    pending_.pop_front();
    return r;
  }
}

ImapResult ImapClient::run(const std::string& command) {
  submit(command);
  flush();
  return next();
}

void ImapClient::set_timeout(unsigned seconds) {
  ep_.timeout = seconds;
  s_->set_timeout(seconds);
}

void ImapClient::logout() {
  try {
    while (!pending_.empty()) next();
    run("LOGOUT");
  } catch (const Error&) {
    // A server that hangs up on LOGOUT has done what we asked.
  }
}

}  // namespace mapsync
