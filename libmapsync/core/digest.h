// digest.h - SHA-256 of map contents, to tell an unchanged map from a changed one; and
// base64 (RFC 4648), for SASL tokens.
//
// Implemented in digest.cpp, through OpenSSL's libcrypto. A build that renders the same
// entries as last time must not touch the published file: Postfix daemons restart
// whenever a map file is replaced.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace mapsync {

class Digest {
 public:
  Digest();
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(std::string_view data);
  // Lower-case hex; the object cannot be updated afterwards.
  std::string hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Standard base64 with padding, on one line.
std::string base64_encode(std::string_view in);
// The bytes of standard base64 (padding required); false for anything else.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace mapsync
