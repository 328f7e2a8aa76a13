// digest.cpp - SHA-256 through OpenSSL's EVP interface.
#include "libmapsync/digest.h"

#include <openssl/evp.h>

#include "libmapsync/error.h"

namespace mapsync {

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

}  // namespace mapsync
