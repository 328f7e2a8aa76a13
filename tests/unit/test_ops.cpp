// test_ops.cpp - what monitoring reads: the textfile writer (counters continue across
// runs, the consecutive-75 count and its reset), syslog's one record per message, and
// the hook runner (argv without a shell, only the given environment, a timeout that
// kills the whole process group, output captured and cut).
// tests/integration/ops_monitoring.sh runs the same through the programs.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "libmapsync/config/config.h"
#include "libmapsync/core/command.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/prometheus.h"
#include "tests/support/map_test_support.h"
#include "tests/unit/config_error.h"

using namespace maptest;

namespace {

void run_once(const std::string& path, int status, double jobs) {
  mapsync::PromFile f(path);
  f.run_outcome("prog", status, 0.5);
  f.counter("prog_jobs_total", "Jobs.", jobs, "{outcome=\"created\"}");
  f.write();
}

// Every member of the group got SIGKILL: it is gone, a zombie, exiting (PF_EXITING), or
// has SIGKILL pending. (Without waiting: on a loaded machine a killed process may not
// have run its exit yet when the leader's exit is seen.)
bool killed_or_gone(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream stat(dir + "/stat");
  std::string id, comm, state, skip;
  unsigned long flags = 0;
  if (!(stat >> id >> comm >> state >> skip >> skip >> skip >> skip >> skip >> flags)) return true;
  if (state == "Z" || state == "X" || (flags & 0x4)) return true;
  std::ifstream status(dir + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("ShdPnd:", 0) == 0 || line.rfind("SigPnd:", 0) == 0)
      if (std::stoull(line.substr(7), nullptr, 16) & (1ull << (SIGKILL - 1))) return true;
  return false;
}

double value(const std::string& path, const std::string& series) {
  return mapsync::PromFile(path).previous(series, -1);
}

}  // namespace

TEST_CASE("textfile counters continue across runs and no-op runs; 75s in a row are counted") {
  TempDir dir;
  const std::string p = dir / "prog.prom";
  run_once(p, 0, 3);
  run_once(p, 0, 0);  // a run with nothing to do
  CHECK(value(p, "prog_jobs_total{outcome=\"created\"}") == 3);
  CHECK(value(p, "prog_runs_total{status=\"0\"}") == 2);
  CHECK(value(p, "prog_consecutive_tempfail_runs") == 0);
  const double success = value(p, "prog_last_success_timestamp_seconds");
  CHECK(success > 0);
  run_once(p, 75, 0);
  run_once(p, 75, 1);
  CHECK(value(p, "prog_consecutive_tempfail_runs") == 2);
  CHECK(value(p, "prog_last_exit_status") == 75);
  CHECK(value(p, "prog_last_success_timestamp_seconds") == doctest::Approx(success).epsilon(1e-9));
  CHECK(value(p, "prog_jobs_total{outcome=\"created\"}") == 4);
  run_once(p, 65, 0);  // alarming on its own: the streak of 75s is over
  CHECK(value(p, "prog_consecutive_tempfail_runs") == 0);
  run_once(p, 75, 0);
  run_once(p, 0, 0);
  CHECK(value(p, "prog_consecutive_tempfail_runs") == 0);
  CHECK(value(p, "prog_runs_total{status=\"75\"}") == 3);
  const std::string text = read_text(p);
  CHECK(text.find("prog_build_info{version=\"") != std::string::npos);
  CHECK(text.find("# TYPE prog_jobs_total counter") != std::string::npos);
  // HELP and TYPE once per name, however many series it has.
  mapsync::PromFile f(p);
  f.gauge("g", "A gauge.", 1, "{a=\"x\"}");
  f.gauge("g", "A gauge.", 2, "{a=\"y\"}");
  f.write();
  const std::string t2 = read_text(p);
  CHECK(t2.find("# TYPE g gauge") == t2.rfind("# TYPE g gauge"));
}

TEST_CASE("label values are quoted for the text format") {
  CHECK(mapsync::prom_label("a\"b\\c\nd") == "\"a\\\"b\\\\c\\nd\"");
}

TEST_CASE("a multi-line message is one syslog record") {
  CHECK(mapsync::log::one_line("change gates tripped:\n  virtual: 3 removed\n  transport: 2 removed") ==
        "change gates tripped: | virtual: 3 removed | transport: 2 removed");
  CHECK(mapsync::log::one_line("one line") == "one line");
  CHECK(mapsync::log::one_line("trailing\n") == "trailing");
}

TEST_CASE("a command runs without a shell, with only the environment it is given") {
  ::setenv("OPS_TEST_SECRET", "do-not-pass", 1);
  const auto r = mapsync::run_command({"/bin/sh", "-c", "echo \"$1\"; env; echo err >&2", "sh", "two words; $(x)"},
                                      {"PATH=/usr/bin:/bin", "MAPSYNC_MAPS=transport"}, 10);
  ::unsetenv("OPS_TEST_SECRET");
  REQUIRE(r.started);
  CHECK(r.ok());
  CHECK(r.output.find("two words; $(x)\n") == 0);
  CHECK(r.output.find("MAPSYNC_MAPS=transport") != std::string::npos);
  CHECK(r.output.find("do-not-pass") == std::string::npos);
  CHECK(r.output.find("err") != std::string::npos);
  CHECK(r.describe(10) == "exit 0");
}

TEST_CASE("a command's failure, a missing program and a relative path are reported") {
  const auto bad = mapsync::run_command({"/bin/sh", "-c", "exit 3"}, {}, 10);
  CHECK(bad.started);
  CHECK(!bad.ok());
  CHECK(bad.exit_status == 3);
  const auto missing = mapsync::run_command({"/nonexistent/hook"}, {}, 10);
  CHECK(!missing.started);
  CHECK(missing.describe(10).find("not started: /nonexistent/hook") == 0);
  const auto relative = mapsync::run_command({"postfix", "reload"}, {}, 10);
  CHECK(!relative.started);
}

TEST_CASE("a timeout kills the command's whole process group") {
  TempDir dir;
  const std::string pids = dir / "pids";
  const auto r = mapsync::run_command(
      {"/bin/sh", "-c", "sleep 300 & echo $! > \"$1\"; echo $$ >> \"$1\"; exec sleep 300", "sh", pids}, {}, 1);
  CHECK(r.timed_out);
  CHECK(!r.ok());
  CHECK(r.seconds < 30);
  std::ifstream in(pids);
  int n = 0;
  for (pid_t pid; in >> pid; ++n) CHECK(killed_or_gone(pid));
  CHECK(n == 2);
}

TEST_CASE("a command's output is cut, not its run") {
  const auto r = mapsync::run_command({"/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"}, {"PATH=/usr/bin:/bin"}, 10, 100);
  CHECK(r.ok());
  CHECK(r.output.size() == 100);
  CHECK(r.truncated);
}

TEST_CASE("maps.hooks and the metrics files are read from the config, and checked") {
  const std::string base = R"(database:
  host: 127.0.0.1
  user: mapsync
  database: mailusers
maps:
  directory: /var/lib/mapsync/maps
)";
  const mapsync::Config c = mapsync::parse_config(base + R"(  hooks:
    - maps: [transport, relay_domains]
      command: [/usr/sbin/postfix, reload]
metrics:
  adsync_textfile: /var/lib/prom/adsync.prom
  mboxsync_textfile: /var/lib/prom/mboxsync.prom
)", "test.yaml");
  REQUIRE(c.maps.hooks.size() == 1);
  CHECK(c.maps.hooks[0].maps == std::vector<std::string>{"transport", "relay_domains"});
  CHECK(c.maps.hooks[0].command == std::vector<std::string>{"/usr/sbin/postfix", "reload"});
  CHECK(c.maps.hooks[0].timeout == 30);
  CHECK(c.ad.metrics_textfile == "/var/lib/prom/adsync.prom");
  CHECK(c.cyrus.metrics_textfile == "/var/lib/prom/mboxsync.prom");
  CHECK(config_error(base + "  hooks:\n    - maps: [transport]\n      command: [postfix, reload]\n")
            .find("test.yaml:8: maps.hooks[0].command: required: a list, the program's absolute path first") == 0);
  CHECK(config_error(base + "  hooks:\n    - maps: [transprot]\n      command: [/usr/sbin/postfix]\n")
            .find("maps.hooks[0].maps: \"transprot\" is not a map mapsync publishes") != std::string::npos);
  CHECK(config_error(base + "  hooks:\n    - maps: [virtual]\n      command: [/bin/true]\n      timeout: 0\n")
            .find("maps.hooks[0].timeout: must be a whole number from 1 to 3600") != std::string::npos);
  CHECK(config_error(base + "  hooks:\n    - command: [/bin/true]\n").find("maps.hooks[0].maps: required") != std::string::npos);
  CHECK(config_error(base + "metrics:\n  adsync_textfile: adsync.prom\n").find("metrics.adsync_textfile: must be an absolute path") !=
        std::string::npos);
}
