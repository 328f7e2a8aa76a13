// replay.cpp - runs the seed corpus through the fuzz targets' entry functions without
// libFuzzer (ctest fuzz_corpus_replay, label unit): every input that once crashed a
// target stays a test in the ordinary build. A broken property aborts, failing the test.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#define MAPSYNC_FUZZ_DECLARE(name) int mapsync_fuzz_##name(const std::uint8_t* data, std::size_t size);
MAPSYNC_FUZZ_DECLARE(config)
MAPSYNC_FUZZ_DECLARE(textmap)
MAPSYNC_FUZZ_DECLARE(imap)
MAPSYNC_FUZZ_DECLARE(address)
MAPSYNC_FUZZ_DECLARE(ldap)
MAPSYNC_FUZZ_DECLARE(mapdiff)

namespace {

struct Target {
  const char* name;
  int (*fn)(const std::uint8_t*, std::size_t);
};

const Target kTargets[] = {
    {"config", mapsync_fuzz_config}, {"textmap", mapsync_fuzz_textmap}, {"imap", mapsync_fuzz_imap},
    {"address", mapsync_fuzz_address}, {"ldap", mapsync_fuzz_ldap}, {"mapdiff", mapsync_fuzz_mapdiff},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_replay CORPUS_DIR\n");
    return 64;
  }
  namespace fs = std::filesystem;
  int status = 0;
  for (const Target& t : kTargets) {
    const fs::path dir = fs::path(argv[1]) / t.name;
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file()) files.push_back(e.path());
    if (ec || files.empty()) {
      std::fprintf(stderr, "%s: no seed inputs\n", dir.c_str());
      status = 1;
      continue;
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      std::ifstream in(f, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!in.good() && !in.eof()) {
        std::fprintf(stderr, "%s: cannot read\n", f.c_str());
        status = 1;
        continue;
      }
      std::fprintf(stderr, "%s\n", f.c_str());  // the input a crash below belongs to
      t.fn(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    std::printf("fuzz_corpus_replay: %s: %zu inputs\n", t.name, files.size());
  }
  return status;
}
