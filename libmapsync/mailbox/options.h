// mailbox/options.h - the Cyrus mailbox provisioning settings (the `cyrus:` section).
//
// A plain struct, filled from the YAML file by config/ (the one room that sees every
// section) or directly by tests; this room's code takes it and nothing else.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "libmapsync/db/options.h"

namespace mapsync {

// Mailbox provisioning on the Cyrus back ends (mboxsync). Absent: present == false.
struct CyrusFolder {
  std::string name;         // "Sent"
  std::string special_use;  // "\\Sent" (RFC 6154), "" = none
};

// The words of these are read in config/ (cyrus.auth, cyrus.tls, cyrus.via,
// cyrus.placement); from there on the code speaks the enums.
enum class CyrusAuth { password, gssapi };
enum class ImapTls { none, starttls, imaps };
enum class CyrusVia { backend, frontend };
enum class CyrusPlacement { recorded, fewest, weights };

// Moving mailboxes between back ends (mboxsync move, rebalance; the `cyrus.moves:` section).
enum class RebalancePolicy { count, quota };
struct CyrusMoves {
  unsigned timeout = 3600;      // seconds one XFER may take (a large mailbox takes minutes)
  unsigned mupdate_wait = 30;   // seconds for the front end to name the target after XFER
  // When `mboxsync run` starts queued moves, in local time: minutes after midnight,
  // start == end means any time; start > end spans midnight (22:00-06:00).
  unsigned window_start = 0, window_end = 0;
  // Before a batch of moves, every hub that reports to fleet_hubs must have published the
  // deferral of the batch's users (render.moving_transport): wait up to hub_wait seconds.
  // false: no hub routes mail straight to a back end (Postfix delivers through a front
  // end's LMTP proxy, which follows mupdate), so there is nothing to wait for.
  bool wait_for_hubs = true;
  unsigned hub_wait = 600;
  unsigned batch = 20;          // users deferred and moved per hub wait
  // Moves of a batch carried out at once: while one XFER copies, the next user's tree is
  // read and the last one's checked (docs/mailbox-moves.md, Speed).
  unsigned parallel = 3;
  RebalancePolicy policy = RebalancePolicy::count;  // what "even" means: mailboxes, or quota used
  unsigned max_moves = 50;      // moves one rebalance --apply queues at most
  std::uint64_t max_bytes = 0;  // bytes (quota used) it queues at most, 0 = no limit (YAML: max_mb)
};

struct CyrusConfig {
  bool present = false;
  bool unix_separator = false;   // imapd.conf unixhierarchysep
  bool virtual_domains = false;  // imapd.conf virtdomains (user@domain mailboxes)
  std::string admin_user = "cyrus";
  // How the admin logs in: password (admin_user and password_file) or gssapi (a
  // ticket from keytab for principal; the server maps the principal to an admin).
  CyrusAuth auth = CyrusAuth::password;
  std::string password_file;     // mode checked
  std::string keytab;            // mode checked
  std::string principal;         // "" = the keytab's first
  std::string krb5_config;       // "" = the system's
  ImapTls tls = ImapTls::starttls;
  std::string ca_file;
  bool allow_plaintext = false;  // LOGIN without TLS (tls: none): loopback tests only
  unsigned imaps_port = 993;     // with tls: imaps, instead of backends.imap_port
  // Where commands go: backend (each back end's imap_host:imap_port) or frontend
  // (CREATE name server!partition through a Murder front end).
  CyrusVia via = CyrusVia::backend;
  std::string frontend_host;
  unsigned frontend_port = 143;
  // Unprovisioned accounts: keep the recorded back end (recorded), or place them on
  // the back end with the fewest mailboxes (fewest) or by weight (weights).
  CyrusPlacement placement = CyrusPlacement::recorded;
  std::map<std::string, unsigned> weights;  // back end name -> weight
  unsigned quota_mb = 0;                     // when the account records none; 0 = no quota
  std::vector<std::string> acls;             // "IDENTIFIER RIGHTS", {uid} replaced
  std::vector<CyrusFolder> folders;
  // The defaults come from bench/bench_mboxsync.sh's sweep of connections x pipeline
  // (docs/benchmarks.md, "mboxsync"): the fastest setting, and the only one within 10 % of
  // it, meeting both goals of issue 15 (>= 1.2 x cyradm, >= 0.9 x the bare pipelined client).
  // A back end works on each session's commands one after another; four sessions keep its
  // disk and CPU busy while each waits for its fsyncs. Never more sessions than mailboxes.
  unsigned pipeline = 32;        // commands in flight per connection
  unsigned connections = 4;      // admin sessions per back end (or front end)
  unsigned timeout = 30;
  unsigned retry_base_seconds = 60;
  unsigned retry_max_seconds = 3600;
  unsigned max_attempts = 50;
  std::string lock_name = "mapsync.mboxsync";
  // metrics.*_textfile: a node_exporter textfile rewritten after every run ("" = none).
  std::string metrics_textfile;
  CyrusMoves moves;
};

// Everything the mailbox provisioning job reads.
struct MboxsyncSettings {
  std::string path;  // the config file, for messages
  DatabaseConfig database;
  CyrusConfig cyrus;
};

}  // namespace mapsync
