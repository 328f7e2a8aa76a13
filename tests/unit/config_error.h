// config_error.h - the unit tests' probe of a config text: the message of the error it
// provokes (which must carry exit status 78), or "" when it parses.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "libmapsync/config/config.h"
#include "libmapsync/core/error.h"

inline std::string config_error(const std::string& text) {
  try {
    mapsync::parse_config(text, "test.yaml");
  } catch (const mapsync::Error& e) {
    CHECK(e.status() == mapsync::Exit::config);
    return e.what();
  }
  return "";
}
