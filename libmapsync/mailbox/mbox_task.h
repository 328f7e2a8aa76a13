// mbox_task.h - one mailbox task and the decisions about it that need no server and no
// database: the mailbox's name, its back end, the IMAP commands that make it, and what
// the server's replies to them mean. The engine (mbox_engine.h) does the talking; the
// unit tests drive these directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "libmapsync/db/backends.h"
#include "libmapsync/db/vocabulary.h"
#include "libmapsync/mailbox/imap_client.h"
#include "libmapsync/mailbox/imap_proto.h"
#include "libmapsync/mailbox/mboxsync.h"
#include "libmapsync/mailbox/options.h"

namespace mapsync {

// An account delivered to Cyrus, as mboxsync reads it.
struct MbAccount {
  std::uint32_t id = 0;
  std::string uid, domain, partition;
  AccountStatus status = AccountStatus::active;
  std::uint32_t backend_id = 0;  // 0: none recorded
  unsigned quota_mb = 0;
  bool provisioned = false;
  bool moving = false;  // accounts.mailbox_moving: its mail is deferred while the tree moves
};

// One unit of work for a worker: a create or a rename (moves: mbox_move.h).
struct Task {
  JobKind kind = JobKind::create;
  std::uint64_t job_id = 0;  // 0: bulk, no queue row
  unsigned attempts = 0;     // earlier attempts of the job
  MbAccount account;
  const BackendRow* backend = nullptr;
  std::string partition;
  std::string inbox;      // create: the INBOX; rename: the new name
  std::string old_inbox;  // rename
};

CyrusNamespace cyrus_namespace(const CyrusConfig& c);

// The name a create task's mailbox gets (t.inbox), or false and why it cannot have one
// (the account's name, or one of the configured folders below it, is not a valid name).
bool name_task(const CyrusConfig& c, Task& t, std::string& why);

// The back end and partition for a create task (t.backend, t.partition). An account
// that is provisioned or has a recorded partition stays where it was put (by the
// postmaster, or by an earlier run); otherwise cyrus.placement decides among the enabled
// back ends by load (BackendRow::accounts, which this counts up for the chosen one).
// t.backend stays null when the recorded back end does not exist.
void place_task(const CyrusConfig& c, std::vector<BackendRow>& backends, Task& t);

// What one command of a task does, for judging its reply and naming it in messages.
enum class Step { create, quota, acl, folder, rename };
const char* step_word(Step s);

struct ImapCommand {
  Step step;
  std::string text;  // without the tag, every argument quoted by imap_string()
};

// The commands that carry out a task, in order. special_use: the server announced
// CREATE-SPECIAL-USE (else folders are made without their USE attribute).
std::vector<ImapCommand> task_commands(const CyrusConfig& c, const Task& t, bool literal_plus, bool special_use);

// Whether the first reply leaves a question only the server can answer: is the mailbox
// on the task's back end? (CREATE said it exists somewhere; RENAME said the old name
// does not exist, perhaps because an earlier run renamed it.)
bool needs_location_check(const Task& t, const ImapResult& first);
// The command that asks about t.inbox (a rename's new name), and what its reply says.
// On a back end, LIST shows only its own mailboxes; through a front end, LIST shows the
// whole Murder, so ask which server holds it (Cyrus' /shared/vendor/cmu/cyrus-imapd/server
// annotation). A refused query means "not here".
std::string location_query(const CyrusConfig& c, const Task& t, bool literal_plus);
bool located_here(const CyrusConfig& c, const Task& t, const ImapResult& reply);

// The result of a task from the replies to its commands (one each, in order). here: the
// answer to the location check, when needs_location_check() asked for one.
MboxResult judge_replies(const Task& t, const std::vector<ImapCommand>& commands, const std::vector<ImapResult>& replies,
                         bool here);

// A result for the task with no outcome decided yet (uid, back end, mailbox filled in).
MboxResult task_result(const Task& t, MboxOutcome outcome, std::string detail = {});

// Reply classifiers. A NO that says the server is busy, a lock is taken or a Murder peer
// is unreachable is temporary (retry); Cyrus does not always send the RFC 5530 codes, so its words count.
bool temporary_no(const std::string& text);
bool already_exists(const ImapResult& r);
bool nonexistent(const ImapResult& r);

}  // namespace mapsync
