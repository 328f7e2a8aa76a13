// metrics.h - a Prometheus node_exporter textfile after every run.
//
// The textfile collector reads *.prom files from a directory; this writes one (temp and
// rename, so a scrape never sees half a file) with the time of the last run and of the
// last success, the exit status, duration, generation, serial, entries per map and the
// gates tripped. Alert on time() - mapsync_last_success_timestamp_seconds.
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
