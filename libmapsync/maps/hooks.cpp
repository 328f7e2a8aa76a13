// hooks.cpp - see hooks.h.
#include "libmapsync/maps/hooks.h"

#include <algorithm>

#include "libmapsync/core/command.h"
#include "libmapsync/core/escape.h"
#include "libmapsync/core/log.h"

namespace mapsync {

std::vector<HookRun> run_publish_hooks(const MapsConfig& maps, const std::vector<std::string>& replaced,
                                       std::uint64_t generation) {
  std::vector<HookRun> runs;
  for (const PublishHook& h : maps.hooks) {
    std::string which;
    for (const auto& m : h.maps)
      if (std::find(replaced.begin(), replaced.end(), m) != replaced.end()) which += (which.empty() ? "" : " ") + m;
    if (which.empty()) continue;
    HookRun run;
    for (const auto& a : h.command) run.command += (run.command.empty() ? "" : " ") + escape(a, 200);
    // A fixed environment: nothing of ours (a password file's name, a Kerberos cache,
    // LD_PRELOAD of a debugging session) reaches the hook.
    const std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "MAPSYNC_MAPS=" + which,
                                          "MAPSYNC_GENERATION=" + std::to_string(generation),
                                          "MAPSYNC_DIRECTORY=" + maps.directory};
    const CommandResult r = run_command(h.command, env, h.timeout);
    run.ok = r.ok();
    run.timed_out = r.timed_out;
    run.outcome = r.describe(h.timeout);
    std::string out = r.output;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    const std::string said = out.empty() ? "" : ": " + escape(out, 1024) + (r.truncated ? " (output cut)" : "");
    const std::string msg = "hook after publishing " + which + " (" + run.command + "): " + run.outcome + said;
    // The publish stands either way: a failed hook is a warning (exit 0) and a metric.
    if (run.ok) log::info(msg);
    else log::warning(msg + "; the maps are published, the hook's work is not done");
    runs.push_back(std::move(run));
  }
  return runs;
}

std::string run_publish_hooks(const MapsConfig& maps, const BuildOptions& options, BuildReport& rep) {
  if (options.dry_run || rep.nothing_changed || !options.directory.empty()) return "";
  std::vector<std::string> replaced;
  for (const auto& m : rep.maps)
    if (m.written) replaced.push_back(m.name);
  std::string summary;
  for (const HookRun& h : run_publish_hooks(maps, replaced, rep.generation)) {
    ++rep.hooks_run;
    rep.hooks_failed += h.ok ? 0 : 1;
    summary += "; hook " + h.command + ": " + h.outcome;
  }
  return summary;
}

}  // namespace mapsync
