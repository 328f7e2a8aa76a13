// secret.h - reading passwords from files, never from the command line or environment.
//
// Like OpenSSH's sshkey_perm_ok(): a secret file that group or others may read (or
// write) is refused, and so is one owned by someone other than us or root, because
// its contents can no longer be assumed secret.
#pragma once

#include <string>

namespace mapsync {

// Reads the first line of path (without the newline). Throws Exit::config when the file
// is missing, unreadable, empty, a symlink to elsewhere is fine but its target is
// checked, or its permissions are too open. what names the setting (for messages).
std::string read_secret_file(const std::string& path, const std::string& what);

// The same checks for a file that another library reads (a Kerberos keytab): exists,
// regular, readable, no group/other bits, ours or root's. kind names it ("keytab").
void check_secret_file(const std::string& path, const std::string& what, const std::string& kind);

// Overwrites a string's bytes before it is dropped (best effort against core dumps).
void wipe(std::string& s);

}  // namespace mapsync
