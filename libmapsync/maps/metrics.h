// metrics.h - a Prometheus node_exporter textfile after every run.
//
// The textfile collector reads *.prom files from a directory; this writes one (through
// core/prometheus.h: temp and rename, counters continued from the previous file) with
// the run series every program writes (build_info, last run and success, exit status,
// consecutive temporary failures), and the build's own: duration, generation, serial,
// entries per map, gates tripped, holds, publishes and post-publish hooks run and
// failed. Alert on time() - mapsync_last_success_timestamp_seconds (docs/monitoring.md).
#pragma once

#include <string>

#include "libmapsync/maps/build.h"
#include "libmapsync/maps/options.h"

namespace mapsync {

// exit_status: what the program exits with. A failed run keeps the previous
// last_success value. Problems writing the file are logged, never thrown: metrics
// must not turn a good run into a failed one.
// published: the state of the map directory after the run (what Postfix reads now),
// nullptr when nothing was ever published; generation, serial and entries come from it.
struct PublishState;
void write_metrics(const MetricsConfig& config, const BuildReport& report, const PublishState* published,
                   int exit_status);

}  // namespace mapsync
