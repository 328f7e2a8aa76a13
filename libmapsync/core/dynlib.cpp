// dynlib.cpp - dlopen/dlsym behind DynLib (dynlib.h says why some libraries load late).
#include "libmapsync/core/dynlib.h"

#include <dlfcn.h>

namespace mapsync {

DynLib::DynLib(const char* soname) : soname_(soname) {
  handle_ = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* why = dlerror();
    error_ = std::string("cannot load ") + soname + ": " + (why ? why : "unknown error");
  }
}

void* DynLib::symbol(const char* name) {
  if (handle_ == nullptr) return nullptr;
  dlerror();
  void* p = dlsym(handle_, name);
  if (p == nullptr && error_.empty()) error_ = soname_ + ": no symbol " + name;
  return p;
}

}  // namespace mapsync
