// vocabulary.h - the words of the user database's ENUM columns, as C++ enums, and the one
// place that translates them to and from SQL.
//
// Every job reads and writes the same columns (accounts.status is rendered by the maps,
// set by adsync and read by mboxsync); each job parses a column's text here, once, and
// speaks the enum from then on. A value the schema allows but this table lacks is a bug in
// this file, reported as Exit::software by parse_sql().
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace mapsync {

enum class DomainKind : std::uint8_t { local, alias, relay, list };           // domains.kind
enum class AccountStatus : std::uint8_t { active, disabled, pending_delete };  // accounts.status
enum class Delivery : std::uint8_t { cyrus, smtp, forward, none };            // accounts.delivery
enum class AccountSource : std::uint8_t { ad, manual };                       // accounts.source
enum class ListManager : std::uint8_t { transport, pipe };                    // mailing_lists.manager
enum class JobKind : std::uint8_t { create, rename, move };                   // provisioning_jobs.kind
enum class JobState : std::uint8_t { pending, done, failed };                 // provisioning_jobs.state

// The SQL words of each enum, in the enum's order (also the schema's ENUM order).
template <class E> struct SqlWords;
template <> struct SqlWords<DomainKind> {
  static constexpr const char* column = "domains.kind";
  static constexpr std::array<std::string_view, 4> words{"local", "alias", "relay", "list"};
};
template <> struct SqlWords<AccountStatus> {
  static constexpr const char* column = "accounts.status";
  static constexpr std::array<std::string_view, 3> words{"active", "disabled", "pending-delete"};
};
template <> struct SqlWords<Delivery> {
  static constexpr const char* column = "accounts.delivery";
  static constexpr std::array<std::string_view, 4> words{"cyrus", "smtp", "forward", "none"};
};
template <> struct SqlWords<AccountSource> {
  static constexpr const char* column = "accounts.source";
  static constexpr std::array<std::string_view, 2> words{"ad", "manual"};
};
template <> struct SqlWords<ListManager> {
  static constexpr const char* column = "mailing_lists.manager";
  static constexpr std::array<std::string_view, 2> words{"transport", "pipe"};
};
template <> struct SqlWords<JobKind> {
  static constexpr const char* column = "provisioning_jobs.kind";
  static constexpr std::array<std::string_view, 3> words{"create", "rename", "move"};
};
template <> struct SqlWords<JobState> {
  static constexpr const char* column = "provisioning_jobs.state";
  static constexpr std::array<std::string_view, 3> words{"pending", "done", "failed"};
};

// The SQL word of a value: to_sql(AccountStatus::pending_delete) == "pending-delete".
template <class E>
constexpr std::string_view to_sql(E e) {
  return SqlWords<E>::words[static_cast<std::size_t>(e)];
}

// The value of a word, or nothing for a word the column does not have (config input).
template <class E>
constexpr std::optional<E> from_sql(std::string_view word) {
  for (std::size_t i = 0; i < SqlWords<E>::words.size(); ++i)
    if (SqlWords<E>::words[i] == word) return static_cast<E>(i);
  return std::nullopt;
}

// The same for a value read from the database, where an unknown word is a bug.
[[noreturn]] void unexpected_sql_word(const char* column, std::string_view word);
template <class E>
E parse_sql(std::string_view word) {
  if (auto e = from_sql<E>(word)) return *e;
  unexpected_sql_word(SqlWords<E>::column, word);
}

}  // namespace mapsync
