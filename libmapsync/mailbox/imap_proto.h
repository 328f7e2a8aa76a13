// imap_proto.h - the IMAP wire format as mboxsync writes and reads it (RFC 3501).
//
// The one place where data becomes part of an IMAP command: every mailbox name, user
// name, quota and ACL argument goes through imap_string(), which chooses an atom, a
// quoted string or a literal, so no value can end a command early or start another.
// Mailbox names are checked against what Cyrus accepts before anything is sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mapsync {

// An astring argument: an atom when every byte is an ATOM-CHAR, a quoted string when it
// only needs '"' and '\' escaped, otherwise a literal ({n+} with LITERAL+, else {n},
// which the caller must send only after the server's continuation). NUL cannot be sent
// at all: callers check with imap_string_ok() first.
std::string imap_string(std::string_view value, bool literal_plus);
bool imap_string_ok(std::string_view value);

// How the Cyrus back ends name mailboxes (imapd.conf unixhierarchysep, virtdomains).
struct CyrusNamespace {
  bool unix_separator = false;  // '/' instead of '.'; then user names may contain '.'
  bool virtual_domains = false; // user@domain in mailbox names
  char separator() const { return unix_separator ? '/' : '.'; }
};

// The INBOX of user uid ("user.jdoe", "user/jdoe@example.edu"), or nullopt with *why when
// Cyrus would refuse the name (characters outside its policy, too long, an empty part).
// domain is used only with virtual_domains.
std::optional<std::string> cyrus_inbox(const CyrusNamespace& ns, std::string_view uid, std::string_view domain,
                                       std::string* why);

// A folder below an INBOX ("user.jdoe.Sent"); folder names are checked the same way.
std::optional<std::string> cyrus_folder(const CyrusNamespace& ns, const std::string& inbox, std::string_view folder,
                                        std::string* why);

// One server response. An untagged or continuation line has tag "*" or "+".
struct ImapResponse {
  std::string tag;
  std::string status;  // OK, NO, BAD, BYE, PREAUTH, or the untagged keyword (LIST, CAPABILITY, ...)
  std::string text;    // the rest of the line (literals inlined)
};

// The length of the literal a response line announces at its end ("* LIST () "/" {12}"),
// or nullopt when the line is complete. A length past SIZE_MAX is SIZE_MAX.
std::optional<std::size_t> imap_literal_size(std::string_view line);

// Splits a complete response (literals already read in) into tag, status and text.
ImapResponse parse_imap_response(std::string_view line);

// The response code of a status response ("[ALREADYEXISTS] Mailbox exists" -> "ALREADYEXISTS").
std::string imap_response_code(std::string_view text);

// Parses the list of astrings/nstrings of an untagged LIST reply: flags, delimiter, name.
struct ImapListEntry {
  std::vector<std::string> flags;
  std::string delimiter;
  std::string name;
};
std::optional<ImapListEntry> parse_imap_list(std::string_view text);

// The words of an untagged reply's text (ACL, QUOTAROOT, QUOTA, STATUS): astrings, and
// flat parenthesised lists as one token each. nullopt when the text does not parse.
struct ImapToken {
  bool list = false;
  std::string text;                // an astring
  std::vector<std::string> items;  // a list's words
};
std::optional<std::vector<ImapToken>> imap_tokens(std::string_view text);

}  // namespace mapsync
