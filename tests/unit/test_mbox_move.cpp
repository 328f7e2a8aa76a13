// Moves without a server: XFER's per-user result, the replies a tree is read from, the
// comparison that proves a tree arrived whole, the rebalance plan, the moves config, and
// the deferral of a moving user's mail in the transport map.
#include <doctest/doctest.h>

#include <string>

#include "libmapsync/config/config.h"
#include "libmapsync/mailbox/mbox_move.h"
#include "libmapsync/mailbox/mbox_tree.h"
#include "libmapsync/mailbox/rebalance.h"
#include "libmapsync/maps/render.h"
#include "tests/unit/config_error.h"
#include "tests/unit/render_campus.h"

using namespace mapsync;

namespace {

ImapResult reply(const std::string& status, const std::string& text, std::vector<std::pair<std::string, std::string>> untagged) {
  ImapResult r;
  r.tag = "M1";
  r.status = status;
  r.text = text;
  for (auto& [s, t] : untagged) r.untagged.push_back({"*", s, t});
  return r;
}

TreeState tree(std::uint64_t inbox_messages, std::uint64_t inbox_unseen) {
  TreeState t;
  t.folders.push_back({"user.jdoe", inbox_messages, inbox_unseen, {{"jdoe", "acdeiklprstwx"}}});
  t.folders.push_back({"user.jdoe.Sent", 5, 0, {{"jdoe", "acdeiklprstwx"}, {"anyone", "p"}}});
  t.quota_root = "user.jdoe";
  t.quota_limits = {{"STORAGE", 102400}};
  t.storage_kb = 2000;
  t.subscriptions = std::vector<std::string>{"INBOX", "INBOX.Sent"};
  return t;
}

}  // namespace

TEST_CASE("XFER: the untagged per-user line decides, not the tagged OK") {
  CHECK(xfer_failure(reply("OK", "Completed", {{"OK", "USER jdoe"}}), "jdoe").empty());
  CHECK(xfer_failure(reply("OK", "Completed", {{"OK", "USER JDoe"}}), "jdoe").empty());
  // imapd.c overwrites the user's error: the tagged reply is OK although nothing moved.
  CHECK(xfer_failure(reply("OK", "Completed", {{"NO", "USER jdoe (Invalid mailbox name)"}}), "jdoe") == "Invalid mailbox name");
  CHECK(xfer_failure(reply("NO", "Server(s) unavailable to complete operation", {}), "jdoe") ==
        "NO Server(s) unavailable to complete operation");
  CHECK(xfer_failure(reply("OK", "Completed", {}), "jdoe").find("no per-user result") != std::string::npos);
  // Another user's line (jdoe2) is not jdoe's.
  CHECK(xfer_failure(reply("OK", "Completed", {{"OK", "USER jdoe2"}}), "jdoe").find("no per-user result") != std::string::npos);
}

TEST_CASE("XFER command: mailbox, server and partition as separate arguments") {
  BackendRow be3;
  be3.name = "be3";
  be3.imap_host = "127.0.0.5";
  MoveOrder o;
  o.inbox = "user.jdoe";
  o.target = &be3;
  CHECK(xfer_command(o, true) == "XFER user.jdoe 127.0.0.5");
  o.partition = "archive";
  CHECK(xfer_command(o, true) == "XFER user.jdoe 127.0.0.5 archive");
}

TEST_CASE("the replies a tree is read from") {
  std::string mailbox, root;
  std::map<std::string, std::string> acl;
  CHECK(parse_acl_reply("user.jdoe jdoe lrswipkxtecda \"anyone\" p", mailbox, acl));
  CHECK(mailbox == "user.jdoe");
  CHECK(acl == std::map<std::string, std::string>{{"jdoe", "acdeiklprstwx"}, {"anyone", "p"}});
  CHECK_FALSE(parse_acl_reply("user.jdoe jdoe", mailbox, acl));
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> q;
  CHECK(parse_quota_reply("user.jdoe (STORAGE 12 102400 MESSAGE 3 1000)", root, q));
  CHECK(root == "user.jdoe");
  CHECK(q["STORAGE"] == std::make_pair<std::uint64_t, std::uint64_t>(12, 102400));
  CHECK(q["MESSAGE"].second == 1000);
  CHECK_FALSE(parse_quota_reply("user.jdoe (STORAGE 12)", root, q));
  std::map<std::string, std::uint64_t> st;
  CHECK(parse_status_reply("\"INBOX.Sent Items\" (MESSAGES 231 UNSEEN 4)", mailbox, st));
  CHECK(mailbox == "INBOX.Sent Items");
  CHECK(st["MESSAGES"] == 231);
  CHECK(st["UNSEEN"] == 4);
  CHECK_FALSE(parse_status_reply("INBOX (MESSAGES x)", mailbox, st));
  CyrusNamespace ns;
  CHECK(owner_folder_name(ns, "user.jdoe", "user.jdoe") == "INBOX");
  CHECK(owner_folder_name(ns, "user.jdoe", "user.jdoe.Sent") == "INBOX.Sent");
  CHECK(owner_folder_name(ns, "user.jdoe", "user.jdoe2") == "user.jdoe2");
  ns.unix_separator = ns.virtual_domains = true;
  CHECK(owner_folder_name(ns, "user/jdoe@example.edu", "user/jdoe/Sent@example.edu") == "INBOX/Sent");
}

TEST_CASE("a tree arrived whole, or what differs") {
  const TreeState before = tree(100, 10);
  CHECK(compare_trees(before, before).empty());
  SUBCASE("mail delivered since arrives unseen: still whole") { CHECK(compare_trees(before, tree(103, 13)).empty()); }
  SUBCASE("seen state lost") {
    const auto d = compare_trees(before, tree(100, 100));
    REQUIRE(d.size() == 1);
    CHECK(d[0].find("seen state") != std::string::npos);
  }
  SUBCASE("messages missing") {
    const auto d = compare_trees(before, tree(99, 10));
    REQUIRE(d.size() == 1);
    CHECK(d[0] == "user.jdoe: 99 messages, 100 before");
  }
  SUBCASE("a folder missing, an ACL changed, a quota changed") {
    TreeState after = before;
    after.folders.pop_back();
    after.folders[0].acl["anyone"] = "lr";
    after.quota_limits["STORAGE"] = 1;
    const auto d = compare_trees(before, after);
    CHECK(d.size() == 3);
  }
  SUBCASE("the snapshot kept in the job row reads back the same") {
    const auto back = TreeState::from_json(before.to_json());
    REQUIRE(back);
    CHECK(compare_trees(before, *back).empty());
    CHECK(back->messages() == 105);
    CHECK(back->subscriptions == before.subscriptions);
    CHECK_FALSE(TreeState::from_json("{\"folders\": 3}"));
  }
  SUBCASE("subscriptions lost on the way") {
    TreeState after = before;
    after.subscriptions = std::vector<std::string>{"INBOX"};
    const auto d = compare_trees(before, after);
    REQUIRE(d.size() == 1);
    CHECK(d[0] == "subscriptions INBOX, before INBOX INBOX.Sent");
  }
  SUBCASE("a snapshot recorded before subscriptions were read: not compared") {
    TreeState old = before;
    old.subscriptions.reset();
    const auto back = TreeState::from_json(old.to_json());
    REQUIRE(back);
    CHECK_FALSE(back->subscriptions);
    CHECK(compare_trees(*back, tree(100, 10)).empty());
  }
}

TEST_CASE("rebalance: a new empty back end gets its share, the smallest mailboxes first") {
  std::vector<RebalanceBackend> bs = {{1, "be1", 1}, {2, "be2", 1}, {3, "be3", 1}};
  std::vector<RebalanceUser> users;
  for (std::uint32_t i = 0; i < 300; ++i) users.push_back({i + 1, "u" + std::to_string(i), 1 + i % 2, 1000 + i});
  RebalancePlan p = plan_rebalance(bs, users, RebalancePolicy::count, 1000, 0);
  CHECK(p.moves.size() == 100);
  CHECK(p.load_after[1] == 100);
  CHECK(p.load_after[2] == 100);
  CHECK(p.load_after[3] == 100);
  CHECK_FALSE(p.limited);
  for (const auto& m : p.moves) CHECK(m.to == 3);
  CHECK(p.moves[0].bytes <= p.moves[1].bytes);
  SUBCASE("an even spread plans nothing") {
    for (auto& m : p.moves)
      for (auto& u : users)
        if (u.account_id == m.account_id) u.backend_id = 3;
    CHECK(plan_rebalance(bs, users, RebalancePolicy::count, 1000, 0).moves.empty());
  }
  SUBCASE("limits stop it early and say so") {
    RebalancePlan l = plan_rebalance(bs, users, RebalancePolicy::count, 10, 0);
    CHECK(l.moves.size() == 10);
    CHECK(l.limited);
    RebalancePlan b = plan_rebalance(bs, users, RebalancePolicy::count, 1000, 5000);
    CHECK(b.bytes <= 5000);
    CHECK(b.limited);
  }
  SUBCASE("weights: be3 takes half; weight 0 drains a back end") {
    bs[2].weight = 2;
    CHECK(plan_rebalance(bs, users, RebalancePolicy::count, 1000, 0).load_after[3] == 150);
    bs = {{1, "be1", 0}, {2, "be2", 1}, {3, "be3", 1}};
    RebalancePlan d = plan_rebalance(bs, users, RebalancePolicy::count, 1000, 0);
    CHECK(d.load_after[1] == 0);
  }
  SUBCASE("quota: bytes even out, not counts") {
    std::vector<RebalanceUser> q = {{1, "big", 1, 9000}, {2, "a", 1, 1000}, {3, "b", 1, 1000}, {4, "c", 2, 1000}};
    RebalancePlan qp = plan_rebalance({{1, "be1", 1}, {2, "be2", 1}}, q, RebalancePolicy::quota, 1000, 0);
    REQUIRE(qp.moves.size() == 2);
    CHECK(qp.load_after[1] == 9000);
    CHECK(qp.load_after[2] == 3000);
  }
}

TEST_CASE("cyrus.moves: the window and its errors") {
  const std::string base = "database: {host: h, user: u, password_file: /p, database: d}\nmaps: {directory: /m}\n"
                           "cyrus:\n  password_file: /x\n  moves:\n";
  const Config c = parse_config(base + "    window: \"22:00-06:00\"\n    policy: quota\n    max_mb: 10\n", "t.yaml");
  CHECK(c.cyrus.moves.window_start == 22 * 60);
  CHECK(c.cyrus.moves.window_end == 6 * 60);
  CHECK(c.cyrus.moves.policy == RebalancePolicy::quota);
  CHECK(c.cyrus.moves.max_bytes == 10u << 20);
  CHECK(config_error(base + "    window: \"25:00-06:00\"\n").find("cyrus.moves.window") != std::string::npos);
  CHECK(config_error(base + "    policy: size\n").find("cyrus.moves.policy") != std::string::npos);
}

TEST_CASE("a moving user's mail is deferred by the transport map, and back when the move is over") {
  render_test::Campus c;
  mapsync::Findings f;
  auto before = c.render_all(f);
  std::string key;
  for (const auto& [k, v] : before["transport"])
    if (k.rfind("jdoe@", 0) == 0 && v.rfind("lmtp:", 0) == 0) key = k;
  REQUIRE(!key.empty());
  c.s.accounts[0].mailbox_moving = true;
  mapsync::Findings f2;
  auto during = c.render_all(f2);
  CHECK(f2.errors() == 0);
  CHECK(during["transport"][key] == "retry:4.2.1 mailbox is being moved to another server");
}
