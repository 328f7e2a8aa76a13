// secret.h - reading passwords from files, never from the command line or environment.
//
// Like OpenSSH's sshkey_perm_ok(): a secret file that group or others may read (or
// write) is refused, and so is one owned by someone other than us or root, because
// its contents can no longer be assumed secret. A symbolic link is refused too: the
// checks would be of the link's target, which someone else may swap.
#pragma once

#include <cstddef>
#include <string>

namespace mapsync {

// The largest password file read_secret_file accepts: one line, well under it.
constexpr std::size_t kSecretFileLimit = 4096;

// Reads the first line of path (without the newline). Throws Exit::config, naming the
// file, when it is missing, unreadable, a symbolic link, not a regular file (a FIFO is
// refused without waiting for a writer), empty, over kSecretFileLimit, or its owner or
// permissions are wrong. what names the setting (for messages).
std::string read_secret_file(const std::string& path, const std::string& what);

// The same checks for a file that another library reads (a Kerberos keytab): exists,
// no symbolic link, regular, not empty, readable, no group/other bits, ours or root's.
// kind names it ("keytab").
void check_secret_file(const std::string& path, const std::string& what, const std::string& kind);

// Reads all of path, which must be a regular file (a symbolic link to one is fine) of at
// most limit bytes: a FIFO or a device such as /dev/zero is refused at once instead of
// blocking or filling memory. Throws Exit::config; kind names the file ("config").
std::string read_regular_file(const std::string& path, const std::string& kind, std::size_t limit);

// Keeps secrets out of core files: no core dump (RLIMIT_CORE 0) and not dumpable, which
// also keeps other users' ptrace and /proc/PID/mem out. Call before reading a secret.
void protect_secrets_in_memory();

// Overwrites a string's bytes before it is dropped (best effort against core dumps).
void wipe(std::string& s);

}  // namespace mapsync
