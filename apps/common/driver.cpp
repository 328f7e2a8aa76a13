// driver.cpp - option parsing, config loading and the single error sink of the programs.
#include "apps/common/driver.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include <unistd.h>

#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/prometheus.h"
#include "libmapsync/core/secret.h"
#include "libmapsync/core/signals.h"

namespace mapsync_apps {

void add_global_options(CLI::App& app, Global& g, const std::string& version) {
  mapsync::log::setup_early(g.program);
  if (const char* env = std::getenv("MAPSYNC_CONFIG")) g.config_path = env;
  app.set_version_flag("--version", g.program + " " + version);
  app.option_defaults()->always_capture_default();
  app.add_option("-c,--config", g.config_path, "config file (env MAPSYNC_CONFIG)");
  app.add_flag("-v,--verbose", g.verbose, "log debug messages");
  app.add_flag("-q,--quiet", g.quiet, "log only warnings and errors");
  app.fallthrough();  // -c, -v and -q after the subcommand too
}

namespace {
// Set by load_config for a scheduled run (Global::scheduled): whether stderr is held, and
// whether a 75 drops what was held.
bool g_holding = false;
bool g_hush_tempfail = false;

int finish(int status) {
  if (g_holding) mapsync::log::end_stderr_hold(!(g_hush_tempfail && status == static_cast<int>(mapsync::Exit::tempfail)));
  g_holding = false;
  return status;
}

void hold_lone_tempfail(const Global& g, const mapsync::Config& c) {
  const std::string& file = g.program == "adsync"     ? c.ad.metrics_textfile
                            : g.program == "mboxsync" ? c.cyrus.metrics_textfile
                                                      : c.metrics.textfile;
  if (!g.scheduled || !g.quiet || c.logging.quiet_tempfail_runs == 0 || file.empty()) return;
  // The count before this run; this one would be the next.
  const double before = mapsync::PromFile(file).previous(g.program + "_consecutive_tempfail_runs");
  g_hush_tempfail = before + 1 < c.logging.quiet_tempfail_runs;
  g_holding = true;
  mapsync::log::hold_stderr();
}
}  // namespace

mapsync::Config load_config(const Global& g) {
  mapsync::Config c = mapsync::load_config(g.config_path);
  if (g.verbose) c.logging.level = mapsync::LogLevel::debug;
  if (g.quiet && c.logging.level < mapsync::LogLevel::warning) c.logging.level = mapsync::LogLevel::warning;
  mapsync::log::setup(g.program, c.logging);
  hold_lone_tempfail(g, c);
  return c;
}

namespace {

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbours ("biuld" -> "build" is 1), as git and CLI tools count typing mistakes.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// The first word of argv that is not an option, skipping the value of -c/--config (the
// one global option with a value); "" when there is none.
std::string first_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") return i + 1 < argc ? argv[i + 1] : "";
    if (a == "--config" || (a.size() >= 2 && a[0] == '-' && a[1] != '-' && a.back() == 'c')) {
      ++i;  // -c FILE, -vc FILE
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    return a;
  }
  return "";
}

// Checked before CLI11 parses: it would say only "The following arguments were not
// expected", which does not tell a postmaster at 3 a.m. that a subcommand is misspelt.
std::string unknown_subcommand_message(const CLI::App& app, const std::string& program, int argc, char** argv) {
  const std::string word = first_word(argc, argv);
  if (word.empty() || !app.get_options([](const CLI::Option* o) { return o->get_positional(); }).empty()) return "";
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
    for (const std::string& alias : sub->get_aliases()) names.push_back(alias);
  }
  if (std::find(names.begin(), names.end(), word) != names.end()) return "";
  // "help" is 2 away from "hold": the option is what was meant.
  const std::string close = word == "help" ? "--help" : closest_subcommand(word, names);
  return "unknown subcommand \"" + word + "\"" + (close.empty() ? "" : "; did you mean \"" + close + "\"?") +
         " (" + program + " --help lists them)";
}

}  // namespace

std::string closest_subcommand(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  std::size_t best_distance = 3;
  for (const std::string& n : names) {
    const std::size_t d = edit_distance(word, n);
    if (d < best_distance) best = n, best_distance = d;
  }
  if (best_distance <= 1) return best;
  // "reb" means rebalance rather than run (2 away): a unique prefix before distance 2.
  std::vector<std::string> prefixed;
  for (const std::string& n : names)
    if (word.size() >= 2 && n.compare(0, word.size(), word) == 0) prefixed.push_back(n);
  return prefixed.size() == 1 ? prefixed[0] : best;
}

namespace {

int run_action(CLI::App& app, Global& g, int argc, char** argv, const char* default_subcommand) {
  // Before any password is read: a core file or a debugger must not find it.
  mapsync::protect_secrets_in_memory();
  if (const std::string m = unknown_subcommand_message(app, g.program, argc, argv); !m.empty()) {
    mapsync::log::error(m);
    return static_cast<int>(mapsync::Exit::usage);
  }
  try {
    app.parse(argc, argv);
    if (!g.action && default_subcommand) app.get_subcommand(default_subcommand)->parse(std::vector<std::string>{});
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    // A mistyped cron entry fails every run: syslog should say so too.
    if (rc != 0) mapsync::log::error_to_syslog(std::string("usage: ") + e.what());
    return rc == 0 ? 0 : static_cast<int>(mapsync::Exit::usage);
  }
  // From here a signal ends the process at once (75), except in a critical section:
  // libmapsync/core/signals.h.
  mapsync::install_interrupt_handlers(g.program.c_str());
  try {
    return finish(g.action ? g.action() : 0);
  } catch (const mapsync::Error& e) {
    mapsync::log::error(e.what());
    return finish(static_cast<int>(e.status()));
  } catch (const std::exception& e) {
    mapsync::log::error(std::string("internal error: ") + e.what());
    return finish(static_cast<int>(mapsync::Exit::software));
  }
}

[[noreturn]] void exit_process(int status) {
  std::cerr.flush();
  errno = 0;
  const bool written = std::cout.flush() && std::fflush(nullptr) == 0;
  // Output cut short (a full disk under `mapsync dump > file`) must not look like success;
  // a reader that stopped reading (`| head`) is not our failure.
  if (!written && status == 0 && errno != EPIPE) {
    const std::string what = "writing the standard output failed";
    mapsync::log::error(errno ? mapsync::errno_text(what, errno) : what);
    status = static_cast<int>(mapsync::Exit::ioerr);
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  std::exit(status);  // the sanitizers' leak check runs at exit
#else
  _exit(status);
#endif
}

}  // namespace

void run(CLI::App& app, Global& g, int argc, char** argv, const char* default_subcommand) {
  exit_process(run_action(app, g, argc, argv, default_subcommand));
}

}  // namespace mapsync_apps
