// log.cpp - stderr and syslog output.
#include "libmapsync/core/log.h"

#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

#include "libmapsync/core/escape.h"

namespace mapsync::log {
namespace {

struct State {
  std::string program = "mapsync";
  LogLevel level = LogLevel::info;
  bool use_syslog = false;
  bool use_stderr = true;
  std::mutex mu;
};

State& state() {
  static State s;
  return s;
}

int facility_of(const std::string& name) {
  if (name == "daemon") return LOG_DAEMON;
  if (name == "user") return LOG_USER;
  if (name.size() == 6 && name.compare(0, 5, "local") == 0 && name[5] >= '0' && name[5] <= '7') {
    static const int local[] = {LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2, LOG_LOCAL3,
                                LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7};
    return local[name[5] - '0'];
  }
  return LOG_MAIL;
}

void emit(LogLevel level, const char* tag, int priority, const std::string& raw) {
  State& s = state();
  if (level < s.level) return;
  // Callers escape the values they interpolate; this is the last line of defence for
  // one they forgot: no control character reaches a terminal or syslog raw, and no
  // line of a message starts at the left margin like a line of its own.
  const std::string msg = escape_message(raw);
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.use_stderr) {
    if (tag[0]) std::fprintf(stderr, "%s: %s: %s\n", s.program.c_str(), tag, msg.c_str());
    else std::fprintf(stderr, "%s: %s\n", s.program.c_str(), msg.c_str());
    std::fflush(stderr);
  }
  if (s.use_syslog) {
    if (tag[0]) syslog(priority, "%s: %s", tag, msg.c_str());
    else syslog(priority, "%s", msg.c_str());
  }
}

}  // namespace

void setup_early(const std::string& program) {
  State& s = state();
  s.program = program;
  s.level = LogLevel::info;
  s.use_stderr = true;
  s.use_syslog = false;
}

void setup(const std::string& program, const LoggingConfig& config) {
  State& s = state();
  s.program = program;
  s.level = config.level;
  s.use_stderr = config.stderr_output;
  if (config.syslog && !s.use_syslog) {
    static std::string ident;  // openlog keeps the pointer
    ident = program;
    openlog(ident.c_str(), LOG_PID | LOG_NDELAY, facility_of(config.syslog_facility));
  }
  s.use_syslog = config.syslog;
}

void set_level(LogLevel level) { state().level = level; }

void debug(const std::string& msg) { emit(LogLevel::debug, "debug", LOG_DEBUG, msg); }
void info(const std::string& msg) { emit(LogLevel::info, "", LOG_INFO, msg); }
void notice(const std::string& msg) { emit(LogLevel::notice, "", LOG_NOTICE, msg); }
void warning(const std::string& msg) { emit(LogLevel::warning, "warning", LOG_WARNING, msg); }
void error(const std::string& msg) { emit(LogLevel::error, "error", LOG_ERR, msg); }

}  // namespace mapsync::log
