// prometheus.h - a node_exporter textfile (Prometheus text format), for all three programs.
//
// The textfile collector reads *.prom files from a directory; a program rewrites its own
// file after every run, by temp file and rename, so that a scrape never sees half a file.
// Counters must not go back to zero because a run had nothing to do (or because the
// program is a new process each time): the previous file is read back first, and a
// counter continues from its value there. Deleting the file starts them over, which
// Prometheus' rate() takes as a counter reset.
//
// Every program writes the same run series (run_outcome): <prog>_build_info{version},
// last run and last success times, the last exit status and the number of consecutive
// runs that ended with 75 (temporary failure; any other status resets it), the rule
// docs/monitoring.md explains.
#pragma once

#include <map>
#include <set>
#include <sstream>
#include <string>

namespace mapsync {

class PromFile {
 public:
  // Reads the previous file at path (never through a symlink); "" writes nothing.
  explicit PromFile(std::string path);

  // The value of a series (name and labels exactly as written, e.g.
  // `mboxsync_jobs_total{outcome="created"}`) in the previous file, or def.
  double previous(const std::string& series, double def = 0) const;

  // labels: `{a="b"}` or "". HELP and TYPE are written once per name; write the series
  // of one name one after another.
  void gauge(const std::string& name, const std::string& help, double value, const std::string& labels = "");
  // The previous value plus increment.
  void counter(const std::string& name, const std::string& help, double increment, const std::string& labels = "");

  // The series every program writes about its run (see the header comment).
  void run_outcome(const std::string& program, int exit_status, double seconds);

  // Writes the file. Problems are logged as warnings, never thrown: metrics must not
  // turn a good run into a failed one.
  void write() const;

 private:
  void family(const std::string& name, const std::string& help, const char* type);
  std::string path_;
  std::map<std::string, double> previous_;
  std::set<std::string> families_;
  std::ostringstream out_;
};

// A label value quoted for the text format (backslash, quote and line feed escaped).
std::string prom_label(const std::string& value);

}  // namespace mapsync
