// json_format.h - the one convention of every --json output, and the list of them.
//
// Every JSON document a program prints is an object whose top level carries "format"
// (an integer: the version of that kind of document) and "kind" (what it is, e.g.
// "mapsync.plan"). docs/json.md documents each kind and docs/json/KIND.schema.json is its
// JSON Schema; tests/support/check_json.py validates what the integration tests capture.
// Bump a version when a field is removed, renamed or changes meaning or type; adding a
// field does not (readers ignore fields they do not know). A new output: add a JsonFormat
// here and to kAllJsonFormats, a section in docs/json.md and a schema (the unit test
// json_schemas fails until all three exist).
//
// Header only and templated on the JSON type, so core does not depend on nlohmann-json.
#pragma once

namespace mapsync {

struct JsonFormat {
  const char* kind;
  int version;
};

namespace json_format {
inline constexpr JsonFormat mapsync_plan{"mapsync.plan", 1};
inline constexpr JsonFormat mapsync_diff{"mapsync.diff", 1};
inline constexpr JsonFormat mapsync_check{"mapsync.check", 1};
inline constexpr JsonFormat mapsync_status{"mapsync.status", 1};
inline constexpr JsonFormat mapsync_fleet_status{"mapsync.fleet-status", 1};
inline constexpr JsonFormat adsync_plan{"adsync.plan", 1};
inline constexpr JsonFormat adsync_apply{"adsync.apply", 1};
inline constexpr JsonFormat adsync_status{"adsync.status", 1};
inline constexpr JsonFormat mboxsync_plan{"mboxsync.plan", 1};
inline constexpr JsonFormat mboxsync_run{"mboxsync.run", 1};
inline constexpr JsonFormat mboxsync_bulk{"mboxsync.bulk", 1};
inline constexpr JsonFormat mboxsync_move{"mboxsync.move", 1};
inline constexpr JsonFormat mboxsync_rebalance{"mboxsync.rebalance", 1};
inline constexpr JsonFormat mboxsync_jobs{"mboxsync.jobs", 1};
inline constexpr JsonFormat mboxsync_status{"mboxsync.status", 1};
inline constexpr JsonFormat mapadm_rows{"mapadm.rows", 1};
inline constexpr JsonFormat mapadm_change{"mapadm.change", 1};
inline constexpr JsonFormat mapadm_log{"mapadm.log", 1};
inline constexpr JsonFormat mapadm_import{"mapadm.import", 1};
}  // namespace json_format

inline constexpr JsonFormat kAllJsonFormats[] = {
    json_format::mapsync_plan,   json_format::mapsync_diff,       json_format::mapsync_check,
    json_format::mapsync_status, json_format::mapsync_fleet_status, json_format::adsync_plan,
    json_format::adsync_apply,   json_format::mboxsync_plan,      json_format::mboxsync_run,
    json_format::mboxsync_bulk,  json_format::mboxsync_move,      json_format::mboxsync_rebalance,
    json_format::mapadm_rows,    json_format::mapadm_change,      json_format::mapadm_log,
    json_format::mapadm_import,  json_format::adsync_status,      json_format::mboxsync_jobs,
    json_format::mboxsync_status,
};

// A new top-level document of kind f: {"format": VERSION, "kind": KIND}; the caller adds
// its fields. Json is nlohmann::json or nlohmann::ordered_json (the latter keeps "format"
// and "kind" first).
template <class Json>
Json json_document(const JsonFormat& f) {
  Json j = Json::object();
  j["format"] = f.version;
  j["kind"] = f.kind;
  return j;
}

}  // namespace mapsync
