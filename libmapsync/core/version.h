// version.h - the version of this build (CMake's project version), for --version, fleet
// reports and metrics.
#pragma once

namespace mapsync {

inline constexpr const char* kVersion = MAPSYNC_VERSION;

}  // namespace mapsync
