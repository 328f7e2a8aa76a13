// mboxsync jobs list|retry|cancel [ID] [--user UID]: the provisioning queue by hand.
#include <iostream>
#include <memory>

#include "apps/mboxsync/commands.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/mailbox/mbox_ops.h"

namespace mboxsync_cli {
namespace {

struct JobsCli {
  std::uint64_t id = 0;
  std::string user;
  std::vector<std::string> states;
  std::size_t limit = 100;
  bool json = false;
};

mapsync::JobFilter filter_of(const JobsCli& o) {
  mapsync::JobFilter f;
  f.id = o.id;
  f.uid = o.user;
  f.limit = o.limit;
  for (const auto& s : o.states) f.states.push_back(*mapsync::from_sql<mapsync::JobState>(s));
  return f;
}

int change(const Global& g, const JobsCli& o, mapsync::JobAction action) {
  if (!o.id && o.user.empty())
    mapsync::fail(mapsync::Exit::usage, "name the job (its ID, see `mboxsync jobs list`) or the user (--user UID)");
  const auto r = mapsync::mbox_jobs_change(load(g), filter_of(o), action);
  if (r.not_leader)
    mapsync::fail(mapsync::Exit::tempfail, "a run holds the lease " + r.leader + "; nothing changed (try again when it ends)");
  for (const auto& [job, why] : r.refused)
    mapsync::log::warning("job " + std::to_string(job.id) + " (" + job.uid + ") left as it is: " + why);
  if (o.json) std::cout << mapsync::job_rows_json(r.changed) << "\n";
  else std::cout << mapsync::job_rows_text(r.changed);
  return r.refused.empty() ? 0 : static_cast<int>(mapsync::Exit::data);
}

}  // namespace

void setup_jobs(CLI::App& app, Global& g) {
  CLI::App* jobs = app.add_subcommand("jobs", "the provisioning queue: list, retry or cancel jobs");
  jobs->require_subcommand(1);
  auto o = std::make_shared<JobsCli>();
  auto add = [&](const char* name, const char* help) {
    CLI::App* sub = jobs->add_subcommand(name, help);
    sub->add_option("id", o->id, "the job's id");
    sub->add_option("--user", o->user, "the jobs of this account (uid)");
    sub->add_flag("--json", o->json, "print the jobs as JSON");
    return sub;
  };
  CLI::App* list = add("list", "jobs, newest first (default: pending and failed ones)");
  list->add_option("--state", o->states, "only jobs in this state")->check(CLI::IsMember({"pending", "done", "failed"}));
  list->add_option("--limit", o->limit, "at most this many");
  list->callback([&g, o] {
    g.action = [&g, o] {
      const auto rows = mapsync::mbox_jobs_list(load(g), filter_of(*o));
      std::cout << (o->json ? mapsync::job_rows_json(rows) + "\n" : mapsync::job_rows_text(rows));
      return 0;
    };
  });
  add("retry", "make failed jobs pending and due now, attempts from 0")->callback([&g, o] {
    g.action = [&g, o] { return change(g, *o, mapsync::JobAction::retry); };
  });
  add("cancel", "fail pending jobs by hand (a move only before it started)")->callback([&g, o] {
    g.action = [&g, o] { return change(g, *o, mapsync::JobAction::cancel); };
  });
}

}  // namespace mboxsync_cli
