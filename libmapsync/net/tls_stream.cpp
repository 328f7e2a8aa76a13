// tls_stream.cpp - TCP client connections with TLS through OpenSSL's libssl (stream.h).
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>

#include "libmapsync/core/error.h"
#include "libmapsync/net/stream.h"

namespace mapsync {

namespace {

std::string ssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out;
}

class TcpStream final : public Stream {
 public:
  TcpStream(const std::string& host, unsigned port, unsigned timeout_s)
      : peer_(host + ":" + std::to_string(port)), timeout_ms_(static_cast<int>(timeout_s) * 1000) {
    struct addrinfo hints {};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo* res = nullptr;
    if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res))
      fail(Exit::tempfail, peer_ + ": cannot resolve: " + gai_strerror(rc));
    std::string last = "no address";
    for (struct addrinfo* a = res; a && fd_ < 0; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
      if (fd < 0) continue;
      int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        if (wait(fd, POLLOUT)) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          rc = err ? -1 : 0;
          errno = err;
        } else {
          errno = ETIMEDOUT;
        }
      }
      if (rc == 0) {
        fd_ = fd;
      } else {
        last = std::strerror(errno);
        ::close(fd);
      }
    }
    freeaddrinfo(res);
    if (fd_ < 0) fail(Exit::tempfail, peer_ + ": cannot connect: " + last);
  }

  ~TcpStream() override {
    if (ssl_) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }

  void start_tls(const TlsOptions& tls) override {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) fail(Exit::software, "TLS: " + ssl_errors());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    const int loaded = tls.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_)
                                           : SSL_CTX_load_verify_locations(ctx_, tls.ca_file.c_str(), nullptr);
    if (loaded != 1) fail(Exit::config, "TLS: cannot load CA file " + tls.ca_file + ": " + ssl_errors());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    struct in6_addr ip6 {};
    struct in_addr ip4 {};
    if (inet_pton(AF_INET, tls.verify_name.c_str(), &ip4) == 1 || inet_pton(AF_INET6, tls.verify_name.c_str(), &ip6) == 1) {
      X509_VERIFY_PARAM_set1_ip_asc(param, tls.verify_name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, tls.verify_name.c_str(), 0);
      SSL_set_tlsext_host_name(ssl_, tls.verify_name.c_str());
    }
    for (;;) {
      const int rc = SSL_connect(ssl_);
      if (rc == 1) break;
      const int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ && wait(fd_, POLLIN)) continue;
      if (err == SSL_ERROR_WANT_WRITE && wait(fd_, POLLOUT)) continue;
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK)
        fail(Exit::config, peer_ + ": TLS: the server's certificate does not verify for \"" + tls.verify_name +
                               "\": " + X509_verify_cert_error_string(verify) +
                               (tls.ca_file.empty() ? "" : " (CA file " + tls.ca_file + ")"));
      fail(Exit::tempfail, peer_ + ": TLS handshake failed: " + (ssl_errors().empty() ? "connection closed" : ssl_errors()));
    }
  }

  bool encrypted() const override { return ssl_ != nullptr; }
  const std::string& peer() const override { return peer_; }
  void set_timeout(unsigned timeout_s) override { timeout_ms_ = static_cast<int>(timeout_s) * 1000; }

  void write(std::string_view data) override { out_.append(data); }

  void flush() override {
    std::size_t off = 0;
    while (off < out_.size()) {
      const std::size_t n = out_.size() - off;
      ssize_t w;
      if (ssl_) {
        const int rc = SSL_write(ssl_, out_.data() + off, static_cast<int>(std::min<std::size_t>(n, 1 << 20)));
        if (rc <= 0) {
          const int err = SSL_get_error(ssl_, rc);
          if ((err == SSL_ERROR_WANT_WRITE && wait(fd_, POLLOUT)) || (err == SSL_ERROR_WANT_READ && wait(fd_, POLLIN))) continue;
          fail(Exit::tempfail, peer_ + ": connection lost while sending");
        }
        w = rc;
      } else {
        w = ::send(fd_, out_.data() + off, n, MSG_NOSIGNAL);
        if (w < 0) {
          if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait(fd_, POLLOUT)) continue;
          if (errno == EINTR) continue;
          fail(Exit::tempfail, peer_ + ": " + std::strerror(errno) + " while sending");
        }
      }
      off += static_cast<std::size_t>(w);
    }
    out_.clear();
  }

  std::string read_line() override {
    for (;;) {
      const auto nl = in_.find("\r\n", pos_);
      if (nl != std::string::npos) {
        std::string line = in_.substr(pos_, nl - pos_);
        pos_ = nl + 2;
        compact();
        return line;
      }
      if (in_.size() - pos_ > (1u << 24)) fail(Exit::tempfail, peer_ + ": a response line longer than 16 MiB");
      fill();
    }
  }

  std::string read_exact(std::size_t n) override {
    while (in_.size() - pos_ < n) fill();
    std::string s = in_.substr(pos_, n);
    pos_ += n;
    compact();
    return s;
  }

 private:
  bool wait(int fd, short events) const {
    struct pollfd p {fd, events, 0};
    for (;;) {
      const int rc = ::poll(&p, 1, timeout_ms_);
      if (rc < 0 && errno == EINTR) continue;
      return rc > 0;
    }
  }

  void compact() {
    if (pos_ > 65536 && pos_ * 2 > in_.size()) {
      in_.erase(0, pos_);
      pos_ = 0;
    }
  }

  void fill() {
    char buf[65536];
    for (;;) {
      ssize_t n;
      if (ssl_) {
        const int rc = SSL_read(ssl_, buf, sizeof buf);
        if (rc <= 0) {
          const int err = SSL_get_error(ssl_, rc);
          if (err == SSL_ERROR_WANT_READ) {
            if (!wait(fd_, POLLIN)) fail(Exit::tempfail, peer_ + ": no answer within " + std::to_string(timeout_ms_ / 1000) + " s");
            continue;
          }
          if (err == SSL_ERROR_WANT_WRITE && wait(fd_, POLLOUT)) continue;
          fail(Exit::tempfail, peer_ + ": connection closed by the server");
        }
        n = rc;
      } else {
        n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait(fd_, POLLIN)) fail(Exit::tempfail, peer_ + ": no answer within " + std::to_string(timeout_ms_ / 1000) + " s");
            continue;
          }
          fail(Exit::tempfail, peer_ + ": " + std::strerror(errno));
        }
        if (n == 0) fail(Exit::tempfail, peer_ + ": connection closed by the server");
      }
      in_.append(buf, static_cast<std::size_t>(n));
      return;
    }
  }

  std::string peer_;
  int timeout_ms_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string out_, in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::unique_ptr<Stream> Stream::connect(const std::string& host, unsigned port, unsigned timeout_s) {
  return std::make_unique<TcpStream>(host, port, timeout_s);
}

}  // namespace mapsync
