// fuzz_config.cpp - the YAML config loader (config/config.h) on arbitrary bytes: it must
// accept the file or refuse it with its config error (78), never crash, hang or throw
// anything else.
#include <exception>

#include "libmapsync/config/config.h"
#include "libmapsync/core/error.h"
#include "tests/fuzz/fuzz_entry.h"

MAPSYNC_FUZZ_TARGET(config) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const mapsync::Config c = mapsync::parse_config(text, "fuzz.yaml");
    // What each job is handed must be copyable out of any accepted file.
    (void)mapsync::maps_settings(c);
    (void)mapsync::adsync_settings(c);
    (void)mapsync::mboxsync_settings(c);
  } catch (const mapsync::Error& e) {
    FUZZ_CHECK(e.status() == mapsync::Exit::config, e.what());
    FUZZ_CHECK(std::string_view(e.what()).substr(0, 9) == "fuzz.yaml", e.what());
  } catch (const std::exception& e) {
    FUZZ_CHECK(!"an exception other than mapsync::Error", e.what());
  }
  return 0;
}
