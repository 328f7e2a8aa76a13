// digest.cpp - SHA-256 and base64 through OpenSSL's libcrypto (the one module of core
// that includes it; net/tls_stream.cpp uses libssl for TLS).
#include "libmapsync/core/digest.h"

#include <openssl/evp.h>

#include "libmapsync/core/error.h"

namespace mapsync {

// ---- SHA-256 --------------------------------------------------------------------------

struct Digest::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Digest::Digest() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1) fail(Exit::software, "cannot set up SHA-256");
}

Digest::~Digest() { EVP_MD_CTX_free(impl_->ctx); }

void Digest::update(std::string_view data) {
  if (EVP_DigestUpdate(impl_->ctx, data.data(), data.size()) != 1) fail(Exit::software, "SHA-256 update failed");
}

std::string Digest::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, md, &n) != 1) fail(Exit::software, "SHA-256 final failed");
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
