// driver.h - what every mapsync program's main() shares (LLVM's tool-driver shape).
//
// A program adds its subcommands, each binding options to a plain struct and storing
// the action to run in Global::action; run() parses, runs it, and is the one place where
// errors are reported: the program's name, the message, the sysexits(3) status.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "libmapsync/config/config.h"

namespace mapsync_apps {

struct Global {
  std::string program;  // for log lines and syslog
  std::string config_path = "/etc/mapsync/mapsync.yaml";
  bool verbose = false;
  bool quiet = false;
  // Set by the subcommands cron and the timers run, which count their temporary failures
  // in the metrics file (mapsync build, adsync apply, mboxsync run): with -q, their stderr
  // is held, and dropped when the run ends with 75 and fewer than
  // logging.quiet_tempfail_runs runs in a row (this one included) ended so, so that cron
  // mails nothing for a lone "try again later". Syslog gets every message either way.
  // docs/monitoring.md states the rule.
  bool scheduled = false;
  std::function<int()> action;  // set by the chosen subcommand
};

// Sets up early logging and adds -c (env MAPSYNC_CONFIG), -v, -q and --version.
void add_global_options(CLI::App& app, Global& g, const std::string& version);

// Loads the config named by -c and sets up logging from it (-v, -q applied).
mapsync::Config load_config(const Global& g);

// Parses argv, runs the chosen action and ends the process with its exit status.
// default_subcommand, when given, runs when none is named. A first word that names no
// subcommand fails with 64 and `unknown subcommand "biuld"; did you mean "build"?` when
// one is close. The end is _exit() once stdout and stderr are flushed (a failed flush
// of a successful run is 74): static destructors and atexit handlers would only free
// what the kernel takes back, and libmariadb's OpenSSL cleanup alone is 4 % of the
// instructions of a build that finds nothing changed. Sanitizer builds exit normally,
// so that their leak check runs.
[[noreturn]] void run(CLI::App& app, Global& g, int argc, char** argv, const char* default_subcommand = nullptr);

// The subcommand of `names` that `word` is most likely a misspelling of: the first at a
// Damerau-Levenshtein distance of 1, else the one name `word` is a prefix of, else the
// first at distance 2; "" when none is close.
std::string closest_subcommand(const std::string& word, const std::vector<std::string>& names);

}  // namespace mapsync_apps
