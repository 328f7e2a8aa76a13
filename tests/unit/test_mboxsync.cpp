// Unit tests for mboxsync's decisions without a server or a database: the IMAP commands
// for a task, the judgement of the replies (created, existed, conflict, retry, failed,
// renamed), placement, the outcome words, and the queue's backoff. The integration tests
// (tests/integration/mboxsync_*.sh) run the same paths against a Cyrus Murder.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "libmapsync/db/queue.h"
#include "libmapsync/mailbox/mbox_task.h"
#include "libmapsync/mailbox/mboxsync.h"

using namespace mapsync;

namespace {

BackendRow backend(std::uint32_t id, const std::string& name, std::uint64_t mailboxes, bool enabled = true) {
  BackendRow b;
  b.id = id;
  b.name = name;
  b.enabled = enabled;
  b.accounts = mailboxes;
  b.imap_host = name + ".example.test";
  b.partitions = {"default", "part2"};
  return b;
}

CyrusConfig cyrus() {
  CyrusConfig c;
  c.present = true;
  c.quota_mb = 100;
  c.acls = {"{uid} lrswipkxtecdan", "anyone p"};
  c.folders = {{"Sent", "\\Sent"}, {"Trash", ""}};
  return c;
}

Task create_task(const CyrusConfig& c, const BackendRow& b, const std::string& uid = "jdoe") {
  Task t;
  t.account.id = 7;
  t.account.uid = uid;
  t.account.domain = "example.test";
  t.account.backend_id = b.id;
  t.backend = &b;
  t.partition = "default";
  std::string why;
  REQUIRE(name_task(c, t, why));
  return t;
}

ImapResult reply(const std::string& status, const std::string& text = "done") {
  ImapResult r;
  r.tag = "A1";
  r.status = status;
  r.text = text;
  return r;
}

ImapResult ok() { return reply("OK"); }

std::vector<ImapResult> all_ok(std::size_t n) { return std::vector<ImapResult>(n, ok()); }

}  // namespace

TEST_CASE("the commands for a create: CREATE, quota, ACLs, folders, quoted") {
  const CyrusConfig c = cyrus();
  const BackendRow be1 = backend(1, "be1", 0);
  const Task t = create_task(c, be1);
  const auto cmds = task_commands(c, t, false, true);
  REQUIRE(cmds.size() == 6);
  CHECK(cmds[0].step == Step::create);
  CHECK(cmds[0].text == "CREATE user.jdoe default");
  CHECK(cmds[1].text == "SETQUOTA user.jdoe (STORAGE 102400)");
  CHECK(cmds[2].text == "SETACL user.jdoe jdoe lrswipkxtecdan");
  CHECK(cmds[3].text == "SETACL user.jdoe anyone p");
  CHECK(cmds[4].text == "CREATE user.jdoe.Sent (USE (\\Sent))");
  CHECK(cmds[5].step == Step::folder);
  CHECK(cmds[5].text == "CREATE user.jdoe.Trash");
  // Without CREATE-SPECIAL-USE the folder is made plain; the account's quota wins.
  Task q = t;
  q.account.quota_mb = 5;
  const auto plain = task_commands(c, q, false, false);
  CHECK(plain[1].text == "SETQUOTA user.jdoe (STORAGE 5120)");
  CHECK(plain[4].text == "CREATE user.jdoe.Sent");
}

TEST_CASE("through a Murder front end, CREATE names server!partition") {
  CyrusConfig c = cyrus();
  c.via = CyrusVia::frontend;
  c.acls.clear();
  c.folders.clear();
  c.quota_mb = 0;
  const BackendRow be1 = backend(1, "be1", 0);
  const Task t = create_task(c, be1);
  const auto cmds = task_commands(c, t, false, false);
  REQUIRE(cmds.size() == 1);
  CHECK(cmds[0].text == "CREATE user.jdoe be1.example.test!default");
  CHECK(location_query(c, t, false) == "GETMETADATA user.jdoe (/shared/vendor/cmu/cyrus-imapd/server)");
}

TEST_CASE("a rename is one RENAME of the old INBOX to the new") {
  const CyrusConfig c = cyrus();
  const BackendRow be1 = backend(1, "be1", 0);
  Task t = create_task(c, be1, "jsmith");
  t.kind = JobKind::rename;
  t.old_inbox = "user.jdoe";
  const auto cmds = task_commands(c, t, false, true);
  REQUIRE(cmds.size() == 1);
  CHECK(cmds[0].step == Step::rename);
  CHECK(cmds[0].text == "RENAME user.jdoe user.jsmith");
}

TEST_CASE("judging a create's replies") {
  const CyrusConfig c = cyrus();
  const BackendRow be1 = backend(1, "be1", 0);
  const Task t = create_task(c, be1);
  const auto cmds = task_commands(c, t, false, true);

  SUBCASE("every reply OK: created") {
    const MboxResult r = judge_replies(t, cmds, all_ok(cmds.size()), false);
    CHECK(r.outcome == MboxOutcome::created);
    CHECK(r.uid == "jdoe");
    CHECK(r.backend == "be1");
    CHECK(r.mailbox == "user.jdoe");
    CHECK(r.detail.empty());
  }
  SUBCASE("it exists on the expected back end: existed; its folders existing is fine") {
    auto replies = all_ok(cmds.size());
    replies[0] = reply("NO", "[ALREADYEXISTS] Mailbox already exists");
    replies[4] = reply("NO", "Mailbox already exists");
    CHECK(needs_location_check(t, replies[0]));
    CHECK(judge_replies(t, cmds, replies, true).outcome == MboxOutcome::existed);
  }
  SUBCASE("it exists elsewhere: a conflict, left alone") {
    auto replies = all_ok(cmds.size());
    replies[0] = reply("NO", "unable to reserve mailbox on mupdate server");
    const MboxResult r = judge_replies(t, cmds, replies, false);
    CHECK(r.outcome == MboxOutcome::conflict);
    CHECK(r.detail == "exists, but not on be1 (unable to reserve mailbox on mupdate server); left alone");
  }
  SUBCASE("a temporary NO is retried, a permanent one fails, naming the step") {
    auto replies = all_ok(cmds.size());
    replies[0] = reply("NO", "[UNAVAILABLE] backend down");
    CHECK_FALSE(needs_location_check(t, replies[0]));
    MboxResult r = judge_replies(t, cmds, replies, false);
    CHECK(r.outcome == MboxOutcome::retry);
    CHECK(r.detail == "CREATE: NO [UNAVAILABLE] backend down");
    replies[0] = ok();
    replies[2] = reply("NO", "Permission denied");
    r = judge_replies(t, cmds, replies, false);
    CHECK(r.outcome == MboxOutcome::failed);
    CHECK(r.detail == "acl: NO Permission denied");
    replies[2] = ok();
    replies[1] = reply("NO", "System I/O error");
    CHECK(judge_replies(t, cmds, replies, false).outcome == MboxOutcome::retry);
  }
}

TEST_CASE("judging a rename's reply") {
  const CyrusConfig c = cyrus();
  const BackendRow be1 = backend(1, "be1", 0);
  Task t = create_task(c, be1, "jsmith");
  t.kind = JobKind::rename;
  t.old_inbox = "user.jdoe";
  const auto cmds = task_commands(c, t, false, true);
  CHECK(judge_replies(t, cmds, {ok()}, false).outcome == MboxOutcome::renamed);
  const ImapResult gone = reply("NO", "[NONEXISTENT] Mailbox does not exist");
  CHECK(needs_location_check(t, gone));
  const MboxResult again = judge_replies(t, cmds, {gone}, true);
  CHECK(again.outcome == MboxOutcome::renamed);
  CHECK(again.detail == "already renamed");
  CHECK(judge_replies(t, cmds, {gone}, false).outcome == MboxOutcome::failed);
  CHECK(judge_replies(t, cmds, {reply("NO", "try again later")}, false).outcome == MboxOutcome::retry);
}

TEST_CASE("the location check reads LIST on a back end, the server annotation through a front end") {
  CyrusConfig c = cyrus();
  const BackendRow be1 = backend(1, "be1", 0);
  const Task t = create_task(c, be1);
  CHECK(location_query(c, t, false) == "LIST \"\" user.jdoe");
  ImapResult list = ok();
  list.untagged.push_back({"*", "LIST", "(\\HasNoChildren) \".\" user.jdoe"});
  CHECK(located_here(c, t, list));
  list.untagged[0].text = "(\\HasNoChildren) \".\" user.jdoe2";
  CHECK_FALSE(located_here(c, t, list));
  c.via = CyrusVia::frontend;
  ImapResult meta = ok();
  meta.untagged.push_back({"*", "METADATA", "user.jdoe (/shared/vendor/cmu/cyrus-imapd/server \"be1.example.test\")"});
  CHECK(located_here(c, t, meta));
  meta.status = "NO";
  CHECK_FALSE(located_here(c, t, meta));
}

TEST_CASE("placement: recorded, fewest, weights; the chosen back end counts the new mailbox") {
  CyrusConfig c = cyrus();
  std::vector<BackendRow> backends = {backend(1, "be1", 10), backend(2, "be2", 3), backend(3, "be3", 0, false)};
  Task t;
  t.account.backend_id = 1;
  place_task(c, backends, t);  // recorded
  CHECK(t.backend == &backends[0]);
  CHECK(t.partition == "default");
  CHECK(backends[0].accounts == 11);

  c.placement = CyrusPlacement::fewest;
  Task f;
  f.account.backend_id = 1;
  place_task(c, backends, f);
  CHECK(f.backend == &backends[1]);  // be3 has fewer, but is disabled
  CHECK(backends[1].accounts == 4);

  Task kept = f;  // a recorded partition means it was placed already
  kept.account.partition = "part2";
  place_task(c, backends, kept);
  CHECK(kept.backend == &backends[0]);
  CHECK(kept.partition == "part2");

  c.placement = CyrusPlacement::weights;
  c.weights = {{"be1", 10}, {"be2", 1}};
  Task w;
  place_task(c, backends, w);
  CHECK(w.backend == &backends[0]);  // 12/10 < 4/1

  Task none;
  none.account.backend_id = 9;
  c.placement = CyrusPlacement::recorded;
  place_task(c, backends, none);
  CHECK(none.backend == nullptr);
}

TEST_CASE("a name Cyrus would refuse fails before any command") {
  const CyrusConfig c = cyrus();
  Task t;
  t.account.uid = "j.doe";  // the hierarchy separator
  std::string why;
  CHECK_FALSE(name_task(c, t, why));
  CHECK_FALSE(why.empty());
}

TEST_CASE("outcome words, one table") {
  CHECK(std::string(outcome_word(MboxOutcome::created)) == "created");
  CHECK(std::string(outcome_word(MboxOutcome::existed)) == "existed");
  CHECK(std::string(outcome_word(MboxOutcome::renamed)) == "renamed");
  CHECK(std::string(outcome_word(MboxOutcome::conflict)) == "conflict");
  CHECK(std::string(outcome_word(MboxOutcome::failed)) == "failed");
  CHECK(std::string(outcome_word(MboxOutcome::retry)) == "retry");
  CHECK(std::string(outcome_word(MboxOutcome::skipped)) == "skipped");
  CHECK(std::string(outcome_word(MboxOutcome::not_tried)) == "not_tried");
  CHECK(succeeded(MboxOutcome::existed));
  CHECK_FALSE(succeeded(MboxOutcome::not_tried));
  CHECK_FALSE(succeeded(MboxOutcome::conflict));
}

TEST_CASE("the plan's JSON says in_sync, as adsync's does") {
  MboxReport r;
  CHECK(mbox_plan_json(r, json_format::mboxsync_plan).find("\"in_sync\": true") != std::string::npos);
  r.missing.push_back("user.jdoe (be1)");
  CHECK(mbox_plan_json(r, json_format::mboxsync_plan).find("\"in_sync\": false") != std::string::npos);
  MboxResult later;
  later.account_id = 7;
  later.uid = "jdoe";
  later.backend = "be1";
  later.mailbox = "user.jdoe";
  later.outcome = MboxOutcome::retry;
  later.detail = "later";
  r.results.push_back(later);
  CHECK(mbox_plan_json(r, json_format::mboxsync_plan).find("\"outcome\": \"retry\"") != std::string::npos);
}

TEST_CASE("an interrupted bulk's JSON counts what was tried and what was not") {
  MboxReport r;
  r.interrupted = "SIGTERM";
  for (MboxOutcome o : {MboxOutcome::created, MboxOutcome::created, MboxOutcome::existed, MboxOutcome::failed,
                        MboxOutcome::not_tried, MboxOutcome::not_tried, MboxOutcome::not_tried}) {
    MboxResult x;
    x.uid = "u" + std::to_string(r.results.size());
    x.outcome = o;
    r.results.push_back(x);
  }
  CHECK(r.tried() == 4);
  const std::string j = mbox_plan_json(r, json_format::mboxsync_bulk);
  CHECK(j.find("\"format\": 1") != std::string::npos);
  CHECK(j.find("\"kind\": \"mboxsync.bulk\"") != std::string::npos);
  CHECK(j.find("\"interrupted\": \"SIGTERM\"") != std::string::npos);
  CHECK(j.find("\"tried\": 4") != std::string::npos);
  CHECK(j.find("\"not_tried\": 3") != std::string::npos);
  CHECK(j.find("\"created\": 2") != std::string::npos);
  CHECK(j.find("\"failed\": 1") != std::string::npos);
  r.interrupted.clear();
  CHECK(mbox_plan_json(r, json_format::mboxsync_run).find("\"interrupted\": null") != std::string::npos);
}

TEST_CASE("the queue's backoff doubles from base_seconds up to max_seconds") {
  const RetryPolicy p{60, 3600, 50};
  CHECK(retry_delay(p, 1) == 60);
  CHECK(retry_delay(p, 2) == 120);
  CHECK(retry_delay(p, 3) == 240);
  CHECK(retry_delay(p, 7) == 3600);
  CHECK(retry_delay(p, 40) == 3600);
  CHECK(retry_delay({0, 3600, 5}, 3) == 0);
}

TEST_CASE("temporary_no: a busy server, a lock conflict or an unreachable peer is temporary; the rest is not") {
  using mapsync::temporary_no;
  CHECK(temporary_no("[UNAVAILABLE] try later"));
  CHECK(temporary_no("[INUSE] Mailbox is locked"));
  CHECK(temporary_no("Resource deadlock avoided"));  // Cyrus passes EDEADLK's text through
  CHECK(temporary_no("System I/O error"));
  CHECK(temporary_no("Server(s) unavailable to complete operation"));
  CHECK_FALSE(temporary_no("Permission denied"));
  CHECK_FALSE(temporary_no("[ALREADYEXISTS] Mailbox already exists"));
  CHECK_FALSE(temporary_no("Invalid mailbox name"));
}
