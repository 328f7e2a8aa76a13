// metrics.cpp - see metrics.h.
#include "libmapsync/maps/metrics.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/maps/state.h"

namespace mapsync {

void write_metrics(const MetricsConfig& config, const BuildReport& rep, const PublishState* published,
                   int exit_status) {
  if (config.textfile.empty()) return;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // The previous success time survives a failed run.
  std::string last_success = "0";
  {
    std::ifstream in(config.textfile);
    std::string line;
    const std::string name = "mapsync_last_success_timestamp_seconds ";
    while (std::getline(in, line))
      if (line.rfind(name, 0) == 0) last_success = line.substr(name.size());
  }
  std::ostringstream o;
  char num[64];
  auto fmt = [&](double x) {
    std::snprintf(num, sizeof num, "%.3f", x);
    return std::string(num);
  };
  if (exit_status == 0) last_success = fmt(now);
  auto gauge = [&](const char* name, const char* help, const std::string& value) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n" << name << ' ' << value << '\n';
  };
  gauge("mapsync_last_run_timestamp_seconds", "Time the last mapsync build ended.", fmt(now));
  gauge("mapsync_last_success_timestamp_seconds", "Time the last successful mapsync build ended.", last_success);
  gauge("mapsync_last_exit_status", "Exit status of the last build (0 ok, 65 data, 75 try again, 78 config).",
        std::to_string(exit_status));
  gauge("mapsync_build_duration_seconds", "Duration of the last build.", fmt(rep.seconds));
  gauge("mapsync_generation", "Published generation.", std::to_string(published ? published->generation : 0));
  gauge("mapsync_database_serial", "Database change serial the published maps reflect.",
        std::to_string(published ? published->serial : 0));
  gauge("mapsync_held", "1 while a rollback holds the maps.", published && published->held ? "1" : "0");
  gauge("mapsync_nothing_changed", "1 when the last build found nothing to do.", rep.nothing_changed ? "1" : "0");
  gauge("mapsync_gates_tripped", "Change gates tripped by the last build.", std::to_string(rep.gates_tripped.size()));
  o << "# HELP mapsync_findings Validation findings of the last build.\n# TYPE mapsync_findings gauge\n";
  o << "mapsync_findings{severity=\"error\"} " << rep.findings.errors() << '\n';
  o << "mapsync_findings{severity=\"warning\"} " << rep.findings.warnings() << '\n';
  o << "# HELP mapsync_map_entries Entries per published map.\n# TYPE mapsync_map_entries gauge\n";
  if (published)
    for (const auto& m : published->maps) o << "mapsync_map_entries{map=\"" << m.name << "\"} " << m.entries << '\n';
  const std::string temp = config.textfile + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::trunc);
    out << o.str();
    out.close();
    if (!out) {
      log::warning(errno_text("cannot write metrics file " + temp, errno));
      std::remove(temp.c_str());
      return;
    }
  }
  if (std::rename(temp.c_str(), config.textfile.c_str()) != 0) {
    log::warning(errno_text("cannot rename metrics file to " + config.textfile, errno));
    std::remove(temp.c_str());
  }
}

}  // namespace mapsync
