// metrics.cpp - see metrics.h.
#include "libmapsync/maps/metrics.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <sstream>

#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/maps/state.h"

namespace mapsync {
namespace {

// The previous metrics file, for the last success time; never read through a symlink.
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

}  // namespace

void write_metrics(const MetricsConfig& config, const BuildReport& rep, const PublishState* published,
                   int exit_status) {
  if (config.textfile.empty()) return;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // The previous success time survives a failed run.
  std::string last_success = "0";
  {
    std::istringstream in(read_previous(config.textfile));
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
  // The metrics directory may be writable by others (node_exporter's): a name they can
  // guess, opened without O_EXCL, would let a planted symlink make us overwrite any file.
  // mkstemp creates a new file of its own (O_CREAT|O_EXCL: never through a symlink).
  std::string temp = config.textfile + ".tmp.XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) {
    log::warning(errno_text("cannot create a metrics file beside " + config.textfile, errno));
    return;
  }
  const std::string text = o.str();
  std::size_t done = 0;
  int err = ::fchmod(fd, 0644) == 0 ? 0 : errno;
  while (err == 0 && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    else done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    log::warning(errno_text("cannot write metrics file " + temp, err));
    ::unlink(temp.c_str());
    return;
  }
  if (std::rename(temp.c_str(), config.textfile.c_str()) != 0) {
    log::warning(errno_text("cannot rename metrics file to " + config.textfile, errno));
    std::remove(temp.c_str());
  }
}

}  // namespace mapsync
