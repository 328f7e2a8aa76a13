// log.h - one logger for all programs: stderr for people, syslog (mail facility) for cron.
//
// Postfix's msg(3) separates info, warning, error and fatal; so do we. The library
// logs progress and warnings through this; errors that end a run are thrown as
// mapsync::Error and logged once by the program's error sink. Secrets are never
// passed here.
#pragma once

#include <string>

namespace mapsync {

enum class LogLevel { debug, info, notice, warning, error };

struct LoggingConfig {
  LogLevel level = LogLevel::info;
  bool syslog = true;
  std::string syslog_facility = "mail";
  bool stderr_output = true;
};

}  // namespace mapsync

namespace mapsync::log {

void setup(const std::string& program, const LoggingConfig& config);
// Before the config is read: stderr only, info.
void setup_early(const std::string& program);
void set_level(LogLevel level);

void debug(const std::string& msg);
void info(const std::string& msg);
void notice(const std::string& msg);
void warning(const std::string& msg);
void error(const std::string& msg);

}  // namespace mapsync::log
