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
  bool holding = false;
  std::string held;  // stderr lines while holding
  std::mutex mu;
  std::string ident;  // openlog keeps the pointer
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

void to_syslog(State& s, const char* tag, int priority, const std::string& msg) {
  if (!s.use_syslog) return;
  const std::string line = one_line(msg);
  if (tag[0]) syslog(priority, "%s: %s", tag, line.c_str());
  else syslog(priority, "%s", line.c_str());
}

void open_syslog(State& s, const std::string& program, int facility) {
  closelog();
  s.ident = program;
  // No LOG_NDELAY: a run that logs nothing (--help, a quiet build) opens no socket.
  openlog(s.ident.c_str(), LOG_PID, facility);
}

void emit(LogLevel level, const char* tag, int priority, const std::string& raw, bool syslog_always = false) {
  State& s = state();
  const bool shown = level >= s.level;
  if (!shown && !syslog_always) return;
  // Callers escape the values they interpolate; this is the last line of defence for
  // one they forgot: no control character reaches a terminal or syslog raw, and no
  // line of a message starts at the left margin like a line of its own.
  const std::string msg = escape_message(raw);
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.use_stderr && shown) {
    const std::string line = s.program + ": " + (tag[0] ? std::string(tag) + ": " : std::string()) + msg + "\n";
    if (s.holding) {
      s.held += line;
    } else {
      std::fputs(line.c_str(), stderr);
      std::fflush(stderr);
    }
  }
  to_syslog(s, tag, priority, msg);
}

}  // namespace

std::string one_line(const std::string& msg) {
  std::string out;
  out.reserve(msg.size());
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] != '\n') {
      out += msg[i];
      continue;
    }
    while (i + 1 < msg.size() && (msg[i + 1] == ' ' || msg[i + 1] == '\t')) ++i;
    if (i + 1 < msg.size()) out += " | ";
  }
  return out;
}

void setup_early(const std::string& program) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.program = program;
  s.level = LogLevel::info;
  s.use_stderr = true;
  open_syslog(s, program, LOG_MAIL);
  s.use_syslog = true;
}

void setup(const std::string& program, const LoggingConfig& config) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.program = program;
  s.level = config.level;
  s.use_stderr = config.stderr_output;
  if (config.syslog) open_syslog(s, program, facility_of(config.syslog_facility));
  else closelog();
  s.use_syslog = config.syslog;
}

void set_level(LogLevel level) { state().level = level; }

void hold_stderr() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.holding = true;
}

void end_stderr_hold(bool show) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (show && !s.held.empty()) {
    std::fputs(s.held.c_str(), stderr);
    std::fflush(stderr);
  }
  s.held.clear();
  s.holding = false;
}

void debug(const std::string& msg) { emit(LogLevel::debug, "debug", LOG_DEBUG, msg); }
void info(const std::string& msg) { emit(LogLevel::info, "", LOG_INFO, msg); }
void notice(const std::string& msg) { emit(LogLevel::notice, "", LOG_NOTICE, msg); }
void warning(const std::string& msg) { emit(LogLevel::warning, "warning", LOG_WARNING, msg); }
void error(const std::string& msg) { emit(LogLevel::error, "error", LOG_ERR, msg); }
void audit(const std::string& msg) { emit(LogLevel::info, "audit", LOG_NOTICE, msg, true); }

void error_to_syslog(const std::string& msg) {
  State& s = state();
  const std::string line = escape_message(msg);
  std::lock_guard<std::mutex> lock(s.mu);
  to_syslog(s, "error", LOG_ERR, line);
}

}  // namespace mapsync::log
