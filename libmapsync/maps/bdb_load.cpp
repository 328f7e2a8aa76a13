// bdb_load.cpp - Berkeley DB, loaded at the first hash or btree map a run opens, not at
// start.
//
// map_bdb.cpp is the one file that includes db.h and uses Berkeley DB. Nearly all it does
// goes through the DB handle's methods (function pointers inside the handle); only two
// functions are called by name, db_create() and db_strerror(). They are defined here, so
// that the linker takes them from our code instead of libdb-5.3.so, which the programs
// then do not need when they start: a run that opens no map (a no-op `mapsync build`,
// `--version`) no longer maps libdb or resolves its ~600 symbol relocations
// (docs/benchmarks.md, "No-op start-up (issue 15)"). Each loads libdb once (core/dynlib.h)
// and calls libdb's own function. The declarations are db.h's (Berkeley DB 5.3) with the
// handle types left opaque, so that db.h stays map_bdb.cpp's alone; the linkage is C, so
// the names and the calling convention are those of libdb.
#include <cerrno>
#include <cstring>
#include <string>

#include "libmapsync/core/dynlib.h"

struct __db;
struct __db_env;

namespace {

struct Bdb {
  mapsync::DynLib lib{MAPSYNC_BDB_SONAME};
  int (*create)(__db**, __db_env*, unsigned int) = nullptr;
  char* (*strerror)(int) = nullptr;
  bool ok = lib.bind(create, "db_create") && lib.bind(strerror, "db_strerror");
  std::string error = ok ? std::string() : lib.error();
};

// Loaded once (a function-local static, safe from several threads), never unloaded.
const Bdb& bdb() {
  static const Bdb instance;
  return instance;
}

// What db_create() returns when libdb cannot be loaded: errno's "cannot access a needed
// shared library", which db_strerror() below turns into dlerror()'s reason.
constexpr int kNotLoaded = ELIBACC;

}  // namespace

extern "C" int db_create(__db** dbp, __db_env* env, unsigned int flags) {
  const Bdb& b = bdb();
  if (!b.ok) return kNotLoaded;
  return b.create(dbp, env, flags);
}

extern "C" char* db_strerror(int error) {
  const Bdb& b = bdb();
  if (b.ok) return b.strerror(error);
  if (error == kNotLoaded) return const_cast<char*>(b.error.c_str());
  return std::strerror(error);
}
