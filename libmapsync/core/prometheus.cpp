// prometheus.cpp - see prometheus.h.
#include "libmapsync/core/prometheus.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "libmapsync/core/error.h"
#include "libmapsync/core/fileio.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/version.h"

namespace mapsync {
namespace {

std::string read_previous(const std::string& path) {
  std::string text;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return text;
  struct stat st {};
  char buf[8192];
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 20);)
      text.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return text;
}

std::string number(double x) {
  if (std::isnan(x)) return "NaN";
  char buf[64];
  // Whole numbers (counts, serials, statuses) without a fraction; times to the millisecond.
  if (x == std::floor(x) && std::fabs(x) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", x);
  else std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}

}  // namespace

std::string prom_label(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + '"';
}

PromFile::PromFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  std::istringstream in(read_previous(path_));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // A series' labels may hold blanks inside quotes: the value follows the last blank.
    const auto blank = line.rfind(' ');
    if (blank == std::string::npos) continue;
    char* end = nullptr;
    const std::string v = line.substr(blank + 1);
    const double x = std::strtod(v.c_str(), &end);
    if (end && *end == '\0' && !v.empty()) previous_[line.substr(0, blank)] = x;
  }
}

double PromFile::previous(const std::string& series, double def) const {
  const auto it = previous_.find(series);
  return it == previous_.end() ? def : it->second;
}

void PromFile::family(const std::string& name, const std::string& help, const char* type) {
  if (families_.insert(name).second) out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

void PromFile::gauge(const std::string& name, const std::string& help, double value, const std::string& labels) {
  family(name, help, "gauge");
  out_ << name << labels << ' ' << number(value) << '\n';
}

void PromFile::counter(const std::string& name, const std::string& help, double increment, const std::string& labels) {
  family(name, help, "counter");
  out_ << name << labels << ' ' << number(previous(name + labels) + increment) << '\n';
}

void PromFile::run_outcome(const std::string& program, int exit_status, double seconds) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  gauge(program + "_build_info", "The version of " + program + " that wrote this file.", 1,
        "{version=" + prom_label(kVersion) + "}");
  gauge(program + "_last_run_timestamp_seconds", "Time the last " + program + " run ended.", now);
  // A failed run keeps the previous success time.
  gauge(program + "_last_success_timestamp_seconds", "Time the last successful " + program + " run ended.",
        exit_status == 0 ? now : previous(program + "_last_success_timestamp_seconds"));
  gauge(program + "_last_exit_status", "Exit status of the last run (0 ok, 65 data, 75 try again, 78 config).",
        exit_status);
  gauge(program + "_consecutive_tempfail_runs",
        "Runs in a row that ended with 75 (temporary failure); 0 after any other status.",
        exit_status == static_cast<int>(Exit::tempfail) ? previous(program + "_consecutive_tempfail_runs") + 1 : 0);
  // Every status seen before stays in the file: a series left out once would start over.
  const std::string runs = program + "_runs_total";
  const std::string mine = "{status=\"" + std::to_string(exit_status) + "\"}";
  std::set<std::string> statuses = {mine};
  for (const auto& [series, value] : previous_)
    if (series.rfind(runs + "{status=\"", 0) == 0) statuses.insert(series.substr(runs.size()));
  for (const auto& labels : statuses)
    counter(runs, "Runs that wrote this file, by exit status.", labels == mine ? 1 : 0, labels);
  gauge(program + "_run_duration_seconds", "Duration of the last run.", seconds);
}

void PromFile::write() const {
  if (path_.empty()) return;
  // The metrics directory may be writable by others (node_exporter's): replace_file's temp
  // file is its own (O_EXCL), never one a planted symlink leads to. 0644: node_exporter
  // reads it under its own user. Not durable: the next run writes it again, and an fsync
  // would cost every run (a no-op one too) a journal commit.
  std::string what;
  if (const int err = replace_file(path_, out_.str(), {.mode = 0644, .temp_template = path_ + ".tmp.XXXXXX", .durable = false}, &what))
    log::warning(errno_text(what + " (metrics file)", err));
}

}  // namespace mapsync
