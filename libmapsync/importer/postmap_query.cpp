// postmap_query.cpp - the stock Postfix tools as child processes. See postmap_query.h.
#include "libmapsync/importer/postmap_query.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "libmapsync/core/error.h"

extern char** environ;

namespace mapsync {

int run_tool(const std::vector<std::string>& argv, const std::string& in_path, const std::string& out_path) {
  const std::string err_path = out_path + ".stderr";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in_path.empty() ? "/dev/null" : in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) fail(Exit::unavailable, errno_text("run " + argv[0], rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) fail(Exit::oserr, errno_text("wait for " + argv[0], errno));
  std::ifstream err(err_path);
  std::string line, fatal;
  while (std::getline(err, line))
    if (line.find("fatal:") != std::string::npos && fatal.empty()) fatal = line;
  if (!fatal.empty()) fail(Exit::tempfail, fatal);
  if (!WIFEXITED(status)) fail(Exit::software, argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status)));
  return WEXITSTATUS(status);
}

void build_indexed(const PostfixTools& tools, const std::string& table, bool alias) {
  std::vector<std::string> argv{alias ? tools.postalias : tools.postmap};
  if (!tools.config_dir.empty()) argv.insert(argv.end(), {"-c", tools.config_dir});
  argv.push_back(table);
  const auto colon = table.find(':');
  const std::string out = table.substr(colon + 1) + ".build";
  if (run_tool(argv, "", out) != 0) fail(Exit::data, argv[0] + " " + table + " failed (see " + out + ".stderr)");
}

void query_keys(const PostfixTools& tools, const std::string& table, const std::vector<std::string>& keys,
                const std::string& scratch, std::map<std::string, std::string>& answers) {
  if (keys.empty()) return;
  const std::string in = scratch + "/query.in", out = scratch + "/query.out";
  {
    std::ofstream f(in, std::ios::trunc);
    for (const std::string& k : keys) f << k << '\n';
    if (!f) fail(Exit::cantcreat, errno_text("write " + in, errno));
  }
  std::vector<std::string> argv{tools.postmap};
  if (!tools.config_dir.empty()) argv.insert(argv.end(), {"-c", tools.config_dir});
  argv.insert(argv.end(), {"-q", "-", table});
  run_tool(argv, in, out);  // 0 or 1 (nothing found): both are answers
  std::ifstream f(out);
  std::string line;
  while (std::getline(f, line)) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::string key = line.substr(0, tab);
    if (!key.empty() && key.back() == ':') key.pop_back();  // postalias style
    answers.emplace(std::move(key), line.substr(tab + 1));
  }
}

}  // namespace mapsync
