// stream.h - a TCP connection with optional TLS, for the protocol clients (IMAP).
//
// Implemented in tls_stream.cpp, the only module of net/ that includes OpenSSL. Every failure is a
// mapsync::Error naming host and port: unreachable, reset or timed out is temporary
// (75); a certificate that does not verify is configuration (78), because waiting will
// not fix it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace mapsync {

struct TlsOptions {
  std::string ca_file;      // "" = the system's trust store
  std::string verify_name;  // host name or IP address the certificate must name
};

class Stream {
 public:
  // Connects within timeout_s; every later read and write also times out after it.
  static std::unique_ptr<Stream> connect(const std::string& host, unsigned port, unsigned timeout_s);
  virtual ~Stream() = default;

  virtual void start_tls(const TlsOptions& tls) = 0;  // handshake and verification
  virtual bool encrypted() const = 0;
  virtual void write(std::string_view data) = 0;      // buffered until flush()
  virtual void flush() = 0;
  virtual std::string read_line() = 0;                // up to and without CRLF
  virtual std::string read_exact(std::size_t n) = 0;
  virtual const std::string& peer() const = 0;        // "host:port", for messages
  virtual void set_timeout(unsigned timeout_s) = 0;   // for the reads and writes from now on
};

}  // namespace mapsync
