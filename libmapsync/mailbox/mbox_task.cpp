// mbox_task.cpp - naming, placement, commands and judgement of a mailbox task (pure).
#include "libmapsync/mailbox/mbox_task.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace mapsync {

namespace {

// Each outcome's word, in the enum's order.
constexpr std::array<const char*, 9> kOutcomeWords = {"created", "existed", "renamed", "moved",    "conflict",
                                                      "failed",  "retry",   "skipped", "not_tried"};
static_assert(kOutcomeWords.size() == static_cast<std::size_t>(MboxOutcome::not_tried) + 1);

constexpr std::array<const char*, 5> kStepWords = {"create", "quota", "acl", "folder", "rename"};
static_assert(kStepWords.size() == static_cast<std::size_t>(Step::rename) + 1);

std::string lower(const std::string& s) {
  std::string t;
  for (char c : s) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

std::string create_command(const CyrusConfig& c, const Task& t, bool lp) {
  std::string cmd = "CREATE " + imap_string(t.inbox, lp);
  // Through a front end the server is named with the partition (Murder's server!partition).
  if (c.via == CyrusVia::frontend) cmd += " " + imap_string(t.backend->imap_host + "!" + t.partition, lp);
  else if (!t.partition.empty()) cmd += " " + imap_string(t.partition, lp);
  return cmd;
}

// The outcome of a NO (or BAD) that is not one of the expected ones.
MboxOutcome refused(const ImapResult& r) { return temporary_no(r.text) ? MboxOutcome::retry : MboxOutcome::failed; }

}  // namespace

const char* outcome_word(MboxOutcome o) { return kOutcomeWords[static_cast<std::size_t>(o)]; }

bool succeeded(MboxOutcome o) {
  return o == MboxOutcome::created || o == MboxOutcome::existed || o == MboxOutcome::renamed || o == MboxOutcome::moved;
}

const char* step_word(Step s) { return kStepWords[static_cast<std::size_t>(s)]; }

CyrusNamespace cyrus_namespace(const CyrusConfig& c) {
  CyrusNamespace ns;
  ns.unix_separator = c.unix_separator;
  ns.virtual_domains = c.virtual_domains;
  return ns;
}

bool name_task(const CyrusConfig& c, Task& t, std::string& why) {
  const CyrusNamespace ns = cyrus_namespace(c);
  const auto inbox = cyrus_inbox(ns, t.account.uid, t.account.domain, &why);
  if (!inbox) return false;
  for (const CyrusFolder& f : c.folders)
    if (!cyrus_folder(ns, *inbox, f.name, &why)) return false;
  t.inbox = *inbox;
  return true;
}

void place_task(const CyrusConfig& c, std::vector<BackendRow>& backends, Task& t) {
  auto recorded = std::find_if(backends.begin(), backends.end(), [&](const BackendRow& b) { return b.id == t.account.backend_id; });
  BackendRow* b = recorded != backends.end() ? &*recorded : nullptr;
  if (!t.account.provisioned && t.account.partition.empty() && c.placement != CyrusPlacement::recorded) {
    BackendRow* best = nullptr;
    double best_load = 0;
    for (BackendRow& x : backends) {
      if (!x.enabled) continue;
      double weight = 1;
      if (c.placement == CyrusPlacement::weights) {
        auto w = c.weights.find(x.name);
        if (w == c.weights.end() || w->second == 0) continue;
        weight = w->second;
      }
      const double load = static_cast<double>(x.accounts) / weight;
      if (!best || load < best_load) best = &x, best_load = load;
    }
    if (best) b = best;
  }
  t.backend = b;
  if (b) {
    ++b->accounts;  // the next account sees this one's mailbox
    t.partition = !t.account.partition.empty() ? t.account.partition : b->partitions.front();
  }
}

std::vector<ImapCommand> task_commands(const CyrusConfig& c, const Task& t, bool lp, bool special_use) {
  std::vector<ImapCommand> out;
  if (t.kind == JobKind::rename) {
    out.push_back({Step::rename, "RENAME " + imap_string(t.old_inbox, lp) + " " + imap_string(t.inbox, lp)});
    return out;
  }
  out.push_back({Step::create, create_command(c, t, lp)});
  const unsigned quota = t.account.quota_mb ? t.account.quota_mb : c.quota_mb;
  if (quota)
    out.push_back({Step::quota, "SETQUOTA " + imap_string(t.inbox, lp) + " (STORAGE " + std::to_string(quota * 1024ull) + ")"});
  for (const std::string& acl : c.acls) {
    // "IDENTIFIER RIGHTS", checked when the config was read.
    std::string id = acl.substr(0, acl.find(' '));
    if (id == "{uid}") id = t.account.uid;
    out.push_back({Step::acl, "SETACL " + imap_string(t.inbox, lp) + " " + imap_string(id, lp) + " " +
                                  imap_string(acl.substr(acl.find(' ') + 1), lp)});
  }
  const CyrusNamespace ns = cyrus_namespace(c);
  for (const CyrusFolder& folder : c.folders) {
    std::string why;
    const auto name = cyrus_folder(ns, t.inbox, folder.name, &why);
    if (!name) continue;  // checked by name_task() before any task was made
    // A folder goes where its INBOX is: no server or partition argument.
    std::string cmd = "CREATE " + imap_string(*name, lp);
    if (!folder.special_use.empty() && special_use) cmd += " (USE (" + folder.special_use + "))";
    out.push_back({Step::folder, cmd});
  }
  return out;
}

bool needs_location_check(const Task& t, const ImapResult& first) {
  if (first.ok()) return false;
  return t.kind == JobKind::rename ? nonexistent(first) : already_exists(first);
}

std::string location_query(const CyrusConfig& c, const Task& t, bool lp) {
  if (c.via == CyrusVia::frontend)
    return "GETMETADATA " + imap_string(t.inbox, lp) + " (/shared/vendor/cmu/cyrus-imapd/server)";
  return "LIST \"\" " + imap_string(t.inbox, lp);
}

bool located_here(const CyrusConfig& c, const Task& t, const ImapResult& reply) {
  if (!reply.ok()) return false;
  for (const auto& u : reply.untagged) {
    if (c.via == CyrusVia::frontend) {
      if (u.status == "METADATA" && u.text.find("\"" + t.backend->imap_host + "\"") != std::string::npos) return true;
    } else if (u.status == "LIST") {
      if (auto e = parse_imap_list(u.text); e && e->name == t.inbox) return true;
    }
  }
  return false;
}

MboxResult task_result(const Task& t, MboxOutcome outcome, std::string detail) {
  MboxResult r;
  r.account_id = t.account.id;
  r.uid = t.account.uid;
  r.backend = t.backend ? t.backend->name : std::string();
  r.mailbox = t.inbox;
  r.outcome = outcome;
  r.detail = std::move(detail);
  return r;
}

MboxResult judge_replies(const Task& t, const std::vector<ImapCommand>& commands, const std::vector<ImapResult>& replies,
                         bool here) {
  const ImapResult& first = replies.at(0);
  if (t.kind == JobKind::rename) {
    if (first.ok()) return task_result(t, MboxOutcome::renamed);
    if (nonexistent(first) && here) return task_result(t, MboxOutcome::renamed, "already renamed");
    return task_result(t, refused(first), first.status + " " + first.text);
  }
  MboxResult r = task_result(t, MboxOutcome::created);
  if (!first.ok()) {
    if (!already_exists(first)) return task_result(t, refused(first), "CREATE: " + first.status + " " + first.text);
    // Here, or on another back end? Only a mailbox on the expected one is ours.
    if (!here)
      return task_result(t, MboxOutcome::conflict, "exists, but not on " + t.backend->name + " (" + first.text + "); left alone");
    r.outcome = MboxOutcome::existed;
  }
  // The steps after CREATE: a folder that exists already is fine (a rerun), nothing else is.
  for (std::size_t i = 1; i < replies.size(); ++i) {
    const ImapResult& x = replies[i];
    if (x.ok() || (commands[i].step == Step::folder && already_exists(x))) continue;
    r.outcome = refused(x);
    r.detail = std::string(step_word(commands[i].step)) + ": " + x.status + " " + x.text;
    break;
  }
  return r;
}

bool temporary_no(const std::string& text) {
  const std::string code = imap_response_code(text);
  if (code == "UNAVAILABLE" || code == "SERVERBUG" || code == "INUSE" || code == "LIMIT") return true;
  const std::string t = lower(text);
  // "Resource deadlock avoided" (EDEADLK): two imapd processes locking the same quota root
  // or mailbox, e.g. ours and one still finishing the commands of a killed run.
  for (const char* p : {"unavailable", "no connection", "try again", "timed out", "system i/o error", "temporarily",
                        "server(s)", "resource deadlock"})
    if (t.find(p) != std::string::npos) return true;
  return false;
}

bool already_exists(const ImapResult& r) {
  if (r.code() == "ALREADYEXISTS") return true;
  const std::string t = lower(r.text);
  // A back end whose mupdate master already lists the name for another server says
  // "unable to reserve mailbox on mupdate server" (Cyrus 3.6).
  return t.find("already exists") != std::string::npos || t.find("unable to reserve") != std::string::npos;
}

bool nonexistent(const ImapResult& r) {
  if (r.code() == "NONEXISTENT") return true;
  const std::string t = lower(r.text);
  return t.find("does not exist") != std::string::npos || t.find("nonexistent") != std::string::npos;
}

}  // namespace mapsync
