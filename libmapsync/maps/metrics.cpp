// metrics.cpp - see metrics.h.
#include "libmapsync/maps/metrics.h"

#include <algorithm>

#include "libmapsync/core/prometheus.h"
#include "libmapsync/maps/state.h"

namespace mapsync {

void write_metrics(const MetricsConfig& config, const BuildReport& rep, const PublishState* published,
                   int exit_status) {
  if (config.textfile.empty()) return;
  PromFile o(config.textfile);
  o.run_outcome("mapsync", exit_status, rep.seconds);
  o.gauge("mapsync_build_duration_seconds", "Duration of the last build.", rep.seconds);
  o.gauge("mapsync_generation", "Published generation.", published ? static_cast<double>(published->generation) : 0);
  o.gauge("mapsync_database_serial", "Database change serial the published maps reflect.",
          published ? static_cast<double>(published->serial) : 0);
  o.gauge("mapsync_held", "1 while a rollback holds the maps.", published && published->held ? 1 : 0);
  o.gauge("mapsync_fleet_held", "1 when the last build was refused by a fleet-wide hold.", rep.fleet_held ? 1 : 0);
  o.gauge("mapsync_nothing_changed", "1 when the last build found nothing to do.", rep.nothing_changed ? 1 : 0);
  o.gauge("mapsync_gates_tripped", "Change gates tripped by the last build.", static_cast<double>(rep.gates_tripped.size()));
  o.gauge("mapsync_last_publish_timestamp_seconds", "Time the published maps were last replaced.",
          published ? static_cast<double>(published->published_at) : 0);
  o.gauge("mapsync_findings", "Validation findings of the last build.", static_cast<double>(rep.findings.errors()),
          "{severity=\"error\"}");
  o.gauge("mapsync_findings", "", static_cast<double>(rep.findings.warnings()), "{severity=\"warning\"}");
  o.counter("mapsync_publishes_total", "Builds that replaced published maps.",
            exit_status == 0 && !rep.nothing_changed && std::any_of(rep.maps.begin(), rep.maps.end(),
                                                                    [](const BuiltMap& m) { return m.written; })
                ? 1 : 0);
  o.counter("mapsync_hook_runs_total", "Post-publish hooks (maps.hooks) run.", rep.hooks_run);
  o.counter("mapsync_hook_failures_total", "Post-publish hooks that failed or timed out (the publish stood).",
            rep.hooks_failed);
  if (published)
    for (const auto& m : published->maps)
      o.gauge("mapsync_map_entries", "Entries per published map.", static_cast<double>(m.entries),
              "{map=" + prom_label(m.name) + "}");
  o.write();
}

}  // namespace mapsync
