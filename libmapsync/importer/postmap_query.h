// postmap_query.h - the stock Postfix tools, run as child processes: build an indexed map
// from a text file (postmap/postalias) and look many keys up at once (`postmap -q -`).
// The proof of an import asks Postfix itself, not our readers.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace mapsync {

struct PostfixTools {
  std::string postmap = "postmap";
  std::string postalias = "postalias";
  std::string config_dir;  // postmap -c DIR ("" = Postfix's default)
};

// Runs argv with stdin from in_path ("" = /dev/null) and stdout to out_path; returns the
// exit status. stderr is kept; a "fatal:" line in it throws Exit::tempfail (a table that
// cannot be read is not a table without the key).
int run_tool(const std::vector<std::string>& argv, const std::string& in_path, const std::string& out_path);

// postmap/postalias TYPE:PATH on a text file.
void build_indexed(const PostfixTools& tools, const std::string& table, bool alias);

// Looks keys up in table ("hash:/x/virtual", "mysql:/x/y.cf") through `postmap -q -`;
// answers hold the found keys (as queried) and their values.
void query_keys(const PostfixTools& tools, const std::string& table, const std::vector<std::string>& keys,
                const std::string& scratch, std::map<std::string, std::string>& answers);

}  // namespace mapsync
