// admin.h - mapadm's changes to the user database: one generic change layer.
//
// Every object an admin edits (accounts, addresses, groups and members, forwards,
// domains, lists, system aliases, canonical rewrites, transport overrides, back ends,
// delivery targets) is an Entity: a table, the fields that identify a row (its keys) and
// the fields that can be given, each with a type that says how a value is checked and
// bound (entities.cpp). A command is a Change: ENTITY VERB KEY... FIELD=VALUE..., the
// same words on the command line and in a bulk CSV file (bulk_csv.cpp).
//
// apply_changes() runs a batch in ONE transaction:
//   - each change: its syntax was checked up front (check_change); references are
//     resolved (unknown account, back end, ... named), the row it touches is locked with
//     SELECT ... FOR UPDATE NOWAIT (a second admin on the same row gets Exit::tempfail,
//     "another change is in progress", at once, and nothing is written), fields that
//     adsync owns on source 'ad' accounts are refused, the row is written, and an
//     admin_audit row (who, host, batch, command, before/after as JSON, serial) is added;
//   - the maps are rendered from the rows the transaction sees (maps/preview.h) before the
//     first write and after the last: an error a build would refuse that the batch brings
//     (one not in the first render) ends it with Exit::data, ROLLBACK; errors the database
//     already had are reported, not held against the change (it may be the fix of one);
//   - dry_run: the diff of the two renders is returned; ROLLBACK. Otherwise COMMIT (test
//     pause point "admin.before_commit" just before it).
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libmapsync/maps/mapdiff.h"
#include "libmapsync/maps/options.h"

namespace mapsync::admin {

enum class FieldType : std::uint8_t {
  text,               // free text (names, notes, host names); empty means NULL
  address,            // a mail address (core/address.h)
  domain,             // a domain name
  address_or_domain,  // an address, a domain or "@domain" (canonical sources, transport patterns)
  transport,          // a transport(5) value
  alias_targets,      // an aliases(5) right-hand side
  word,               // one of the ENUM's words (db/vocabulary.h)
  boolean,            // yes/no, true/false, 1/0
  number,             // an unsigned integer
  ref,                // the key of a row of another table, stored as its id
  member,             // account:UID, group:ADDRESS or an external address (group_members)
};

struct Field {
  std::string_view name;    // on the command line: name=value
  std::string_view column;  // for member: unused (three columns)
  FieldType type = FieldType::text;
  std::vector<std::string_view> words;  // word: the allowed values
  std::string_view ref_table, ref_key, ref_noun;  // ref: accounts, uid, "account"
  bool required = false;    // must be given on add (NOT NULL without a default)
  bool ad_managed = false;  // written by adsync on source 'ad' accounts
  bool read_only = false;   // shown, never written here
};

// How adsync's ownership applies to an entity's rows.
enum class AdRule : std::uint8_t { none, account, proxy_address };

struct Entity {
  std::string_view name;   // "account"
  std::string_view table;  // "accounts"
  std::size_t keys = 1;    // fields[0..keys) identify a row
  std::vector<Field> fields;
  AdRule ad = AdRule::none;
  std::string_view help;
  const Field* field(std::string_view n) const;
};

// Every entity, in the order help lists them.
const std::vector<Entity>& entities();
const Entity* find_entity(std::string_view name);

enum class Verb : std::uint8_t { add, set, remove, enable, disable, show, list };
std::string_view verb_name(Verb v);

// One command: ENTITY VERB KEY... FIELD=VALUE...
struct Change {
  const Entity* entity = nullptr;
  Verb verb = Verb::show;
  std::vector<std::string> keys;                            // entity->keys values (list: none)
  std::vector<std::pair<std::string, std::string>> fields;  // name, value as given
  std::string origin;                                       // "FILE:LINE" for bulk, else ""
  std::string command() const;                              // canonical text, for the audit log
  std::string what() const;                                 // "account jdoe", for messages
};

// Parses words (ENTITY VERB KEY... FIELD=VALUE...) into a Change and checks everything that
// needs no database: the entity, the verb, the number of keys, field names, value syntax,
// required fields on add, read-only fields. Errors are Exit::usage (command line) or
// Exit::data (bulk, origin set), prefixed with origin.
Change parse_change(const std::vector<std::string>& words, const std::string& origin = "");

// Checks one value for a field ("" when fine, else why). Pure.
std::string check_value(const Field& f, std::string_view value);

// RFC 4180 CSV, one change per record: ENTITY,VERB,KEY...,FIELD=VALUE...; blank lines and
// lines starting with '#' are skipped. Each change's origin is "FILE:LINE".
std::vector<Change> parse_bulk(std::istream& in, const std::string& file);
// One CSV record's fields (quotes removed, "" inside quotes is one "). False on an
// unterminated quote.
bool split_csv_line(std::string_view line, std::vector<std::string>& out);

struct AdminOptions {
  bool dry_run = false;
  std::string command_prefix;  // "bulk FILE: " for the audit log's command column
};

struct ChangeResult {
  std::string entity, table, key, action;  // action: create, update, delete
  std::string before_json, after_json;     // "null" when there is no row
  std::uint64_t serial = 0;
};

struct AdminReport {
  std::string batch;  // uuid of this run
  bool dry_run = false;
  bool committed = false;
  std::uint64_t serial = 0;  // change_serial after the batch (as committed, or as it would be)
  std::vector<ChangeResult> changes;
  std::vector<MapDiff> diff;  // dry_run only
  std::size_t warnings = 0;   // warnings the batch brings (printed as a build prints them)
};

// Applies a batch of changes (add, set, remove, enable, disable) in one transaction.
AdminReport apply_changes(const MapsSettings& settings, const std::vector<Change>& changes, const AdminOptions& options);

// show and list: a mapadm.rows JSON document (docs/json.md), its "rows" an array of objects
// (field name -> value).
std::string query_rows(const MapsSettings& settings, const Change& query, std::size_t limit);

// show/list rows (query_rows' JSON) as text: "field: value" lines for one row (show), a
// tab-separated table with a header for many (list).
std::string format_rows(const std::string& rows_json, bool show);

// The report as text (one line per change, then the diff when dry) or as JSON.
std::string format_report(const AdminReport& report, bool json);

// The last audit rows, newest first, as a mapadm.log JSON document (mapadm log).
std::string audit_log(const MapsSettings& settings, std::size_t limit, const std::string& object_key);

}  // namespace mapsync::admin
