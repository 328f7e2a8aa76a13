// log.h - one logger for all programs: stderr for people, syslog (mail facility) for cron.
//
// Postfix's msg(3) separates info, warning, error and fatal; so do we. The library
// logs progress and warnings through this; errors that end a run are thrown as
// mapsync::Error and logged once by the program's error sink. Secrets are never
// passed here.
//
// Syslog gets one record per message: the lines of a multi-line message are joined
// with " | " there (a syslog daemon would write the line feeds as #012, or split them).
// Before the config is read, syslog is on with facility mail, so that a cron job that
// cannot even read its config leaves a trace where the postmaster looks; the config's
// logging section then decides. Audit lines (a publish, a hold, a rollback, an apply, a
// provisioning run) reach syslog whatever the level (-q), and stderr at info level.
#pragma once

#include <string>

namespace mapsync {

enum class LogLevel { debug, info, notice, warning, error };

struct LoggingConfig {
  LogLevel level = LogLevel::info;
  bool syslog = true;
  std::string syslog_facility = "mail";
  bool stderr_output = true;
  // With -q, a run that ends with 75 (try again later) keeps its messages off stderr, so
  // cron mails nothing, until this many runs in a row have ended so (counted in the
  // program's metrics file; without one every run's messages are shown). 0 = always shown.
  unsigned quiet_tempfail_runs = 3;
};

}  // namespace mapsync

namespace mapsync::log {

void setup(const std::string& program, const LoggingConfig& config);
// Before the config is read: stderr, and syslog with facility mail; info.
void setup_early(const std::string& program);
void set_level(LogLevel level);

void debug(const std::string& msg);
void info(const std::string& msg);
void notice(const std::string& msg);
void warning(const std::string& msg);
void error(const std::string& msg);
// What changed what the mail system does, for the record: syslog (notice, "audit: ...")
// even with -q; stderr only at level info or below.
void audit(const std::string& msg);
// An error already shown on stderr by someone else (CLI11's usage messages): syslog only.
void error_to_syslog(const std::string& msg);
// Holds what would go to stderr until end_stderr_hold(); syslog is not held. The driver
// uses it to drop a lone temporary failure's messages from cron mail (quiet_tempfail_runs).
void hold_stderr();
// Writes what was held (show) or drops it, and stops holding.
void end_stderr_hold(bool show);
// The lines of msg joined into one (" | "), leading blanks of each line dropped.
std::string one_line(const std::string& msg);

}  // namespace mapsync::log
