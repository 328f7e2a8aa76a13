// digest.cpp - SHA-256 and base64 through OpenSSL's libcrypto (the one module of core
// that includes it; net/tls_stream.cpp uses libssl for TLS).
//
// SHA-256 uses the low-level SHA256_Init/Update/Final, deprecated since OpenSSL 3.0 (hence
// OPENSSL_SUPPRESS_DEPRECATED) but present in every 3.x. A known wart, kept on purpose: the
// EVP interface fetches the digest from a provider, and the first fetch initialises the
// whole library (reads openssl.cnf, registers every cipher and digest), which measured
// 1.5-2 ms of CPU; a no-op `mapsync build`, whose only digest is of its own settings, paid
// that at every run (docs/benchmarks.md, "No-op start-up (issue 15)"). Both run the same
// assembly (SHA-NI, AVX2), and the low-level calls leave OpenSSL's global state alone, so
// TLS elsewhere (net/, the database connector) still initialises it with openssl.cnf as
// before. If a future OpenSSL drops them, EVP comes back here, and the cost with it.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "libmapsync/core/digest.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "libmapsync/core/error.h"

namespace mapsync {

// ---- SHA-256 --------------------------------------------------------------------------

struct Digest::Impl {
  SHA256_CTX ctx;
};

Digest::Digest() : impl_(std::make_unique<Impl>()) {
  if (SHA256_Init(&impl_->ctx) != 1) fail(Exit::software, "cannot set up SHA-256");
}

Digest::~Digest() = default;

void Digest::update(std::string_view data) {
  if (SHA256_Update(&impl_->ctx, data.data(), data.size()) != 1) fail(Exit::software, "SHA-256 update failed");
}

std::string Digest::hex() {
  unsigned char md[SHA256_DIGEST_LENGTH];
  const unsigned n = SHA256_DIGEST_LENGTH;
  if (SHA256_Final(md, &impl_->ctx) != 1) fail(Exit::software, "SHA-256 final failed");
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 15];
  }
  return out;
}

// ---- base64 --------------------------------------------------------------------------

std::string base64_encode(std::string_view in) {
  if (in.empty()) return {};
  // EVP_EncodeBlock writes 4 characters per 3 bytes and a NUL.
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 != 0) return false;
  if (in.empty()) return true;
  out.resize(in.size() / 4 * 3);
  // EVP_DecodeBlock ignores neither junk nor padding: it fails on the first and counts
  // the second as zero bytes, which are taken off here.
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return false;
  std::size_t pad = 0;
  if (in.back() == '=') ++pad;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return true;
}

}  // namespace mapsync
