// dynlib.h - a shared library loaded when it is first needed (dlopen), not when the program
// starts.
//
// For the libraries that most runs never call: a no-op `mapsync build` (connect, read the
// serial, stat the published files) folds no non-ASCII key and converts no IDN, yet paid
// for mapping and relocating ICU (libicuuc + its 30 MB libicudata) and libidn2 (+
// libunistring) at every start (docs/benchmarks.md, "No-op start-up (issue 15)"). The one
// module that owns such a library loads it here and binds the entry points it calls; the
// library is never unloaded. A library that cannot be loaded is an error of the call that
// needed it, with dlerror()'s reason, not of the program's start.
#pragma once

#include <string>

namespace mapsync {

class DynLib {
 public:
  // Loads SONAME (RTLD_NOW | RTLD_LOCAL); ok() says whether that worked, error() why not.
  explicit DynLib(const char* soname);
  bool ok() const { return handle_ != nullptr && error_.empty(); }
  const std::string& error() const { return error_; }

  // Binds f to the symbol NAME; false (and error() says which) when it is missing. Once a
  // bind has failed, ok() stays false.
  template <class F>
  bool bind(F*& f, const char* name) {
    f = reinterpret_cast<F*>(symbol(name));
    return f != nullptr;
  }

 private:
  void* symbol(const char* name);
  void* handle_ = nullptr;
  std::string soname_;
  std::string error_;
};

}  // namespace mapsync
