// mbox_tree.cpp - see mbox_tree.h.
#include "libmapsync/mailbox/mbox_tree.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "libmapsync/core/error.h"
#include "libmapsync/mailbox/imap_client.h"
#include "libmapsync/mailbox/mbox_task.h"

namespace mapsync {
namespace {

std::string sorted_rights(std::string rights) {
  std::sort(rights.begin(), rights.end());
  rights.erase(std::unique(rights.begin(), rights.end()), rights.end());
  return rights;
}

std::uint64_t number(const std::string& s, bool& ok) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) {
    ok = false;
    return 0;
  }
  return std::stoull(s);
}

// "user.jdoe@example.edu" -> {"user.jdoe", "@example.edu"}
std::pair<std::string, std::string> split_domain(const std::string& name) {
  const auto at = name.rfind('@');
  if (at == std::string::npos) return {name, ""};
  return {name.substr(0, at), name.substr(at)};
}

ImapResult must(ImapClient& imap, const std::string& command, const std::string& what) {
  ImapResult r = imap.run(command);
  if (!r.ok())
    fail(temporary_no(r.text) ? Exit::tempfail : Exit::data, imap.peer() + ": " + what + " refused: " + r.status + " " + r.text);
  return r;
}

}  // namespace

std::uint64_t TreeState::messages() const {
  std::uint64_t n = 0;
  for (const auto& f : folders) n += f.messages;
  return n;
}

std::string TreeState::to_json() const {
  nlohmann::json j;
  j["quota_root"] = quota_root;
  j["quota_limits"] = quota_limits;
  j["storage_kb"] = storage_kb;
  j["folders"] = nlohmann::json::array();
  for (const auto& f : folders)
    j["folders"].push_back({{"name", f.name}, {"messages", f.messages}, {"unseen", f.unseen}, {"acl", f.acl}});
  if (subscriptions) j["subscriptions"] = *subscriptions;
  return j.dump();
}

std::optional<TreeState> TreeState::from_json(const std::string& text) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    TreeState t;
    t.quota_root = j.at("quota_root").get<std::string>();
    t.quota_limits = j.at("quota_limits").get<std::map<std::string, std::uint64_t>>();
    t.storage_kb = j.at("storage_kb").get<std::uint64_t>();
    if (j.contains("subscriptions")) t.subscriptions = j.at("subscriptions").get<std::vector<std::string>>();
    for (const auto& f : j.at("folders")) {
      FolderState s;
      s.name = f.at("name").get<std::string>();
      s.messages = f.at("messages").get<std::uint64_t>();
      s.unseen = f.at("unseen").get<std::uint64_t>();
      s.acl = f.at("acl").get<std::map<std::string, std::string>>();
      t.folders.push_back(std::move(s));
    }
    return t;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string owner_folder_name(const CyrusNamespace& ns, const std::string& inbox, const std::string& folder) {
  const auto [inbox_base, inbox_domain] = split_domain(inbox);
  const auto [folder_base, folder_domain] = split_domain(folder);
  if (folder_base == inbox_base) return "INBOX";
  if (folder_base.compare(0, inbox_base.size() + 1, inbox_base + ns.separator()) == 0)
    return "INBOX" + folder_base.substr(inbox_base.size());
  return folder;
}

bool parse_acl_reply(const std::string& text, std::string& mailbox, std::map<std::string, std::string>& acl) {
  const auto t = imap_tokens(text);
  if (!t || t->empty() || (t->size() - 1) % 2 != 0) return false;
  mailbox = (*t)[0].text;
  acl.clear();
  for (std::size_t i = 1; i + 1 < t->size(); i += 2) {
    if ((*t)[i].list || (*t)[i + 1].list) return false;
    acl[(*t)[i].text] = sorted_rights((*t)[i + 1].text);
  }
  return true;
}

bool parse_quota_reply(const std::string& text, std::string& root,
                       std::map<std::string, std::pair<std::uint64_t, std::uint64_t>>& usage_limit) {
  const auto t = imap_tokens(text);
  if (!t || t->size() != 2 || (*t)[0].list || !(*t)[1].list || (*t)[1].items.size() % 3 != 0) return false;
  root = (*t)[0].text;
  usage_limit.clear();
  bool ok = true;
  const auto& items = (*t)[1].items;
  for (std::size_t i = 0; i + 2 < items.size(); i += 3)
    usage_limit[items[i]] = {number(items[i + 1], ok), number(items[i + 2], ok)};
  return ok;
}

bool parse_status_reply(const std::string& text, std::string& mailbox, std::map<std::string, std::uint64_t>& items) {
  const auto t = imap_tokens(text);
  if (!t || t->size() != 2 || (*t)[0].list || !(*t)[1].list || (*t)[1].items.size() % 2 != 0) return false;
  mailbox = (*t)[0].text;
  items.clear();
  bool ok = true;
  const auto& words = (*t)[1].items;
  for (std::size_t i = 0; i + 1 < words.size(); i += 2) items[words[i]] = number(words[i + 1], ok);
  return ok;
}

std::vector<std::string> list_tree(ImapClient& admin, const CyrusNamespace& ns, const std::string& inbox) {
  const auto [base, domain] = split_domain(inbox);
  std::vector<std::string> names;
  for (const std::string& pattern : {inbox, base + ns.separator() + "*" + domain}) {
    const ImapResult r = must(admin, "LIST \"\" " + imap_string(pattern, admin.literal_plus()), "LIST " + pattern);
    for (const auto& u : r.untagged)
      if (u.status == "LIST")
        if (auto e = parse_imap_list(u.text)) names.push_back(e->name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  // The INBOX first, the rest in name order.
  std::stable_partition(names.begin(), names.end(), [&](const std::string& n) { return n == inbox; });
  return names;
}

TreeState read_tree(ImapClient& admin, ImapClient& owner, const CyrusNamespace& ns, const std::string& inbox) {
  TreeState t;
  const bool lp = admin.literal_plus();
  for (const std::string& name : list_tree(admin, ns, inbox)) {
    FolderState f;
    f.name = name;
    const ImapResult acl = must(admin, "GETACL " + imap_string(name, lp), "GETACL " + name);
    for (const auto& u : acl.untagged) {
      std::string mailbox;
      if (u.status == "ACL" && !parse_acl_reply(u.text, mailbox, f.acl))
        fail(Exit::tempfail, admin.peer() + ": cannot read the ACL reply for " + name + ": " + u.text);
    }
    const std::string own = owner_folder_name(ns, inbox, name);
    const ImapResult st = must(owner, "STATUS " + imap_string(own, owner.literal_plus()) + " (MESSAGES UNSEEN)",
                               "STATUS " + own + " (as its owner)");
    for (const auto& u : st.untagged) {
      std::string mailbox;
      std::map<std::string, std::uint64_t> items;
      if (u.status != "STATUS") continue;
      if (!parse_status_reply(u.text, mailbox, items))
        fail(Exit::tempfail, owner.peer() + ": cannot read the STATUS reply for " + own + ": " + u.text);
      f.messages = items["MESSAGES"];
      f.unseen = items["UNSEEN"];
    }
    t.folders.push_back(std::move(f));
  }
  if (t.folders.empty()) return t;
  const ImapResult sub = must(owner, "LSUB \"\" \"*\"", "LSUB (as the owner)");
  t.subscriptions.emplace();
  for (const auto& u : sub.untagged) {
    if (u.status != "LSUB") continue;
    // (flags) "sep" name
    const auto words = imap_tokens(u.text);
    if (!words || words->size() < 3)
      fail(Exit::tempfail, owner.peer() + ": cannot read the LSUB reply: " + u.text);
    t.subscriptions->push_back(words->back().text);
  }
  std::sort(t.subscriptions->begin(), t.subscriptions->end());
  const ImapResult q = must(admin, "GETQUOTAROOT " + imap_string(inbox, lp), "GETQUOTAROOT " + inbox);
  for (const auto& u : q.untagged) {
    if (u.status == "QUOTAROOT") {
      const auto words = imap_tokens(u.text);
      if (words && words->size() >= 2) t.quota_root = (*words)[1].text;
    } else if (u.status == "QUOTA") {
      std::string root;
      std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> res;
      if (!parse_quota_reply(u.text, root, res))
        fail(Exit::tempfail, admin.peer() + ": cannot read the QUOTA reply for " + inbox + ": " + u.text);
      for (const auto& [resource, ul] : res) t.quota_limits[resource] = ul.second;
      if (res.count("STORAGE")) t.storage_kb = res["STORAGE"].first;
    }
  }
  return t;
}

void run_pipelined(ImapClient& imap, const std::vector<std::string>& commands, unsigned pipeline,
                   const std::function<void(std::size_t, const ImapResult&)>& on_reply) {
  std::size_t sent = 0, done = 0;
  while (done < commands.size()) {
    while (sent < commands.size() && sent - done < std::max(1u, pipeline)) imap.submit(commands[sent++]);
    imap.flush();
    const ImapResult r = imap.next();
    on_reply(done++, r);
  }
}

std::map<std::string, std::string> mupdate_servers(ImapClient& frontend, const std::vector<std::string>& inboxes,
                                                   unsigned pipeline) {
  std::vector<std::string> commands;
  for (const auto& inbox : inboxes)
    commands.push_back("GETMETADATA " + imap_string(inbox, frontend.literal_plus()) +
                       " (/shared/vendor/cmu/cyrus-imapd/server)");
  std::map<std::string, std::string> where;
  run_pipelined(frontend, commands, pipeline, [&](std::size_t i, const ImapResult& r) {
    if (!r.ok()) return;
    for (const auto& u : r.untagged) {
      if (u.status != "METADATA") continue;
      const auto words = imap_tokens(u.text);
      if (words && words->size() == 2 && (*words)[1].list && (*words)[1].items.size() == 2 && (*words)[1].items[1] != "NIL")
        where[inboxes[i]] = (*words)[1].items[1];
    }
  });
  return where;
}

std::map<std::string, std::uint64_t> quota_usage(ImapClient& admin, const std::vector<std::string>& inboxes,
                                                 unsigned pipeline) {
  std::vector<std::string> commands;
  for (const auto& inbox : inboxes) commands.push_back("GETQUOTAROOT " + imap_string(inbox, admin.literal_plus()));
  std::map<std::string, std::uint64_t> used;
  run_pipelined(admin, commands, pipeline, [&](std::size_t i, const ImapResult& r) {
    if (!r.ok()) return;
    for (const auto& u : r.untagged) {
      std::string root;
      std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> res;
      if (u.status == "QUOTA" && parse_quota_reply(u.text, root, res) && res.count("STORAGE"))
        used[inboxes[i]] = res["STORAGE"].first * 1024;
    }
  });
  return used;
}

std::vector<std::string> compare_trees(const TreeState& before, const TreeState& after) {
  std::vector<std::string> diffs;
  std::map<std::string, const FolderState*> now;
  for (const auto& f : after.folders) now[f.name] = &f;
  for (const auto& f : before.folders) {
    auto it = now.find(f.name);
    if (it == now.end()) {
      diffs.push_back(f.name + ": missing on the target (" + std::to_string(f.messages) + " messages before)");
      continue;
    }
    const FolderState& a = *it->second;
    now.erase(it);
    if (a.messages < f.messages)
      diffs.push_back(f.name + ": " + std::to_string(a.messages) + " messages, " + std::to_string(f.messages) + " before");
    else if (a.unseen != f.unseen + (a.messages - f.messages))
      // New mail arrives unseen; anything else means the owner's seen state did not travel.
      diffs.push_back(f.name + ": " + std::to_string(a.unseen) + " unseen of " + std::to_string(a.messages) + ", " +
                      std::to_string(f.unseen) + " of " + std::to_string(f.messages) + " before (seen state)");
    if (a.acl != f.acl) {
      std::string was, is;
      for (const auto& [id, r] : f.acl) was += " " + id + " " + r;
      for (const auto& [id, r] : a.acl) is += " " + id + " " + r;
      diffs.push_back(f.name + ": ACL" + (is.empty() ? " (none)" : is) + ", before" + (was.empty() ? " (none)" : was));
    }
  }
  for (const auto& [name, f] : now) diffs.push_back(name + ": on the target only (" + std::to_string(f->messages) + " messages)");
  if (before.subscriptions && after.subscriptions && *before.subscriptions != *after.subscriptions) {
    auto list = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& n : v) out += " " + n;
      return out.empty() ? std::string(" (none)") : out;
    };
    diffs.push_back("subscriptions" + list(*after.subscriptions) + ", before" + list(*before.subscriptions));
  }
  if (after.quota_root != before.quota_root)
    diffs.push_back("quota root " + (after.quota_root.empty() ? "(none)" : after.quota_root) + ", before " +
                    (before.quota_root.empty() ? "(none)" : before.quota_root));
  else if (after.quota_limits != before.quota_limits) {
    std::string was, is;
    for (const auto& [r, l] : before.quota_limits) was += " " + r + " " + std::to_string(l);
    for (const auto& [r, l] : after.quota_limits) is += " " + r + " " + std::to_string(l);
    diffs.push_back("quota limits" + is + ", before" + was);
  }
  return diffs;
}

}  // namespace mapsync
