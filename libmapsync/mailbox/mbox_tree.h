// mbox_tree.h - what one user's mailbox tree looks like on the server that holds it, so
// that a move can prove the tree that arrived is the one that left.
//
// Cyrus's XFER has lost parts of a tree before (seen state, expunged messages, sieve
// activation: shared/notes/cyrus-murder.md), so a move is done only when the target shows
// the same folders, at least the same messages, the owner's same unseen counts (the seen
// state travelled), the same quota root and limits, the same ACLs and the same
// subscriptions. Read as the admin (LIST, GETACL, GETQUOTAROOT) and, for the counts and the
// subscriptions, as the owner through SASL proxy authorisation (STATUS needs the read right,
// and unseen and LSUB are the owner's own state).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "libmapsync/mailbox/imap_client.h"
#include "libmapsync/mailbox/imap_proto.h"

namespace mapsync {



struct FolderState {
  std::string name;  // the admin's name: user.jdoe, user.jdoe.Sent
  std::uint64_t messages = 0, unseen = 0;
  std::map<std::string, std::string> acl;  // identifier -> rights, letters sorted
};

struct TreeState {
  std::vector<FolderState> folders;  // sorted by name; the INBOX first
  std::string quota_root;            // "" = none
  std::map<std::string, std::uint64_t> quota_limits;  // resource (STORAGE, MESSAGE) -> limit
  std::uint64_t storage_kb = 0;      // usage of the quota root's STORAGE (0 without one)
  // The owner's subscriptions (LSUB as the owner: INBOX, INBOX.Sent, shared folders too),
  // sorted; nullopt in a snapshot recorded before mapsync read them.
  std::optional<std::vector<std::string>> subscriptions;
  std::uint64_t messages() const;
  std::string to_json() const;
  static std::optional<TreeState> from_json(const std::string& text);
};

// The folders of inbox on the server admin is logged in to (LIST inbox and inbox + sep + *),
// empty when the server does not hold it.
std::vector<std::string> list_tree(ImapClient& admin, const CyrusNamespace& ns, const std::string& inbox);

// Reads the tree (folders from list_tree) with admin; owner is a session on the same server
// acting as the tree's owner. A command refused is Exit::tempfail naming the folder.
TreeState read_tree(ImapClient& admin, ImapClient& owner, const CyrusNamespace& ns, const std::string& inbox);

// What differs in a way a whole move cannot explain, one line each (empty: the tree arrived
// whole). Mail delivered since `before` was read counts: more messages, each of them unseen.
std::vector<std::string> compare_trees(const TreeState& before, const TreeState& after);

// The owner's name for a folder of the admin's namespace: user.jdoe -> INBOX,
// user.jdoe.Sent -> INBOX.Sent (user/jdoe@dom/Sent -> INBOX/Sent with virtual domains).
std::string owner_folder_name(const CyrusNamespace& ns, const std::string& inbox, const std::string& folder);

// Sends the commands with up to `pipeline` in flight; each reply goes to on_reply(i,
// reply), in order.
void run_pipelined(ImapClient& imap, const std::vector<std::string>& commands, unsigned pipeline,
                   const std::function<void(std::size_t, const ImapResult&)>& on_reply);

// The server mupdate names for each inbox, asked through a front end (the Murder's
// server annotation); an inbox mupdate does not know is left out.
std::map<std::string, std::string> mupdate_servers(ImapClient& frontend, const std::vector<std::string>& inboxes,
                                                   unsigned pipeline);

// Quota used, in bytes, of each inbox on the server admin is logged in to (GETQUOTAROOT,
// up to `pipeline` in flight). An inbox without a quota root, or refused, is left out.
std::map<std::string, std::uint64_t> quota_usage(ImapClient& admin, const std::vector<std::string>& inboxes,
                                                 unsigned pipeline);

// Parsers of the untagged replies read here (unit-tested).
bool parse_acl_reply(const std::string& text, std::string& mailbox, std::map<std::string, std::string>& acl);
bool parse_quota_reply(const std::string& text, std::string& root,
                       std::map<std::string, std::pair<std::uint64_t, std::uint64_t>>& usage_limit);
bool parse_status_reply(const std::string& text, std::string& mailbox, std::map<std::string, std::uint64_t>& items);

}  // namespace mapsync
