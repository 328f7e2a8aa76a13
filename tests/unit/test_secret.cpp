// Secret files, the config file's limits, prompt termination on SIGTERM, write_all, replace_file.
//
// What used to hang (a FIFO opened for reading, /dev/zero read to its end, an alias bomb
// walked) runs in a child process with a generous alarm(): a child killed by SIGALRM is
// a hang, reported as a failure instead of blocking the whole unit test run.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "libmapsync/config/config.h"
#include "libmapsync/core/fileio.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/secret.h"
#include "libmapsync/core/signals.h"

using namespace mapsync;

namespace {

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/mapsync-secret.XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~Dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name, const std::string& content, mode_t mode = 0600) const {
    const std::string p = path + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    chmod(p.c_str(), mode);
    return p;
  }
};

// The message of the Error that fn throws ("" when it throws none, or not Exit::config).
std::string config_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.status() == Exit::config ? e.what() : "";
  }
  return "";
}

// Runs fn in a child; its exit status, or -signal when a signal ended it. The alarm is a
// bound on a hang, not a measurement: everything here takes milliseconds when it works.
int in_child(const std::function<int()>& fn) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(30);
    _exit(fn());
  }
  int st = 0;
  REQUIRE(waitpid(pid, &st, 0) == pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

// 0 when fn throws a config error whose message holds want.
int refuses(const std::function<void()>& fn, const std::string& want) {
  return config_error(fn).find(want) != std::string::npos ? 0 : 1;
}

}  // namespace

TEST_CASE("a FIFO as password file is refused at once, without waiting for a writer") {
  Dir d;
  const std::string fifo = d.path + "/pw";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  const int rc = in_child([&] { return refuses([&] { read_secret_file(fifo, "database.password_file"); }, fifo + " is not a regular file"); });
  CHECK_MESSAGE(rc != -SIGALRM, "read_secret_file blocked on a FIFO");
  CHECK(rc == 0);
  CHECK(config_error([&] { check_secret_file(fifo, "cyrus.keytab", "keytab"); }).find("is not a regular file") != std::string::npos);
}

TEST_CASE("a password file that is a symbolic link is refused, naming the file") {
  Dir d;
  const std::string target = d.file("real", "s3cret\n");
  const std::string link = d.path + "/link";
  REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
  CHECK(read_secret_file(target, "database.password_file") == "s3cret");
  const std::string msg = config_error([&] { read_secret_file(link, "database.password_file"); });
  CHECK(msg.find(link + " is a symbolic link") != std::string::npos);
  CHECK(msg.find("s3cret") == std::string::npos);
  CHECK(config_error([&] { check_secret_file(link, "ad.keytab", "keytab"); }).find("symbolic link") != std::string::npos);
}

TEST_CASE("empty and oversized password files are refused") {
  Dir d;
  CHECK(config_error([&] { read_secret_file(d.file("empty", ""), "x"); }).find("is empty") != std::string::npos);
  CHECK(config_error([&] { read_secret_file(d.file("blank", "\n"), "x"); }).find("is empty") != std::string::npos);
  const std::string big = d.file("big", std::string(kSecretFileLimit, 'p') + "\n");
  const std::string msg = config_error([&] { read_secret_file(big, "database.password_file"); });
  CHECK(msg.find(big + " is larger than 4096 bytes") != std::string::npos);
  CHECK(read_secret_file(d.file("max", std::string(kSecretFileLimit - 1, 'p') + "\n"), "x").size() == kSecretFileLimit - 1);
  CHECK(config_error([&] { check_secret_file(d.file("kt", ""), "ad.keytab", "keytab"); }).find("is empty") != std::string::npos);
}

TEST_CASE("the config must be a regular file of bounded size; a symbolic link to one is fine") {
  Dir d;
  const std::string fifo = d.path + "/fifo.yaml";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  int rc = in_child([&] { return refuses([&] { load_config(fifo); }, "config " + fifo + " is not a regular file"); });
  CHECK_MESSAGE(rc != -SIGALRM, "load_config blocked on a FIFO");
  CHECK(rc == 0);
  // Bounded memory too, so that a regression fails instead of swapping.
  rc = in_child([&] {
    const struct rlimit mem {1u << 30, 1u << 30};
    setrlimit(RLIMIT_AS, &mem);
    return refuses([&] { load_config("/dev/zero"); }, "config /dev/zero is not a regular file");
  });
  CHECK(rc == 0);
  const std::string big = d.file("big.yaml", "# " + std::string(kConfigFileLimit, 'x') + "\n");
  CHECK(config_error([&] { load_config(big); }).find(big + " is larger than") != std::string::npos);
  const std::string good = d.file("good.yaml", "database:\n  host: 127.0.0.1\n  user: u\n  database: d\n", 0644);
  const std::string link = d.path + "/mapsync.yaml";
  REQUIRE(symlink(good.c_str(), link.c_str()) == 0);
  CHECK(load_config(link).database.host == "127.0.0.1");
}

TEST_CASE("YAML aliases that expand to a huge tree are refused") {
  // Ten aliases of the level below, six levels: a million nodes from seven lines.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'g'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + static_cast<char>(c - 1);
    bomb += "]\n";
  }
  CHECK(config_error([&] { parse_config(bomb, "bomb.yaml"); }).find("more than 100000 YAML nodes") != std::string::npos);
  // The classic twelve lines: 10^9 nodes, which used to spin for hours.
  for (char c = 'h'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + static_cast<char>(c - 1);
    bomb += "]\n";
  }
  const int rc = in_child([&] { return refuses([&] { parse_config(bomb, "bomb.yaml"); }, "YAML nodes"); });
  CHECK_MESSAGE(rc != -SIGALRM, "the alias bomb was walked");
  CHECK(rc == 0);
}

TEST_CASE("protect_secrets_in_memory: no core file, not dumpable") {
  const int rc = in_child([] {
    protect_secrets_in_memory();
    struct rlimit core {};
    getrlimit(RLIMIT_CORE, &core);
    return prctl(PR_GET_DUMPABLE) == 0 && core.rlim_cur == 0 && core.rlim_max == 0 ? 0 : 1;
  });
  CHECK(rc == 0);
}

TEST_CASE("SIGTERM ends the process at once (75), but waits for the end of a critical section") {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  // Outside a section: nothing after the signal runs.
  int rc = in_child([&] {
    install_interrupt_handlers("test");
    raise(SIGTERM);
    return 0;
  });
  CHECK(rc == 75);
  // Inside: the section finishes, then the process ends before the next statement.
  rc = in_child([&] {
    close(fds[0]);
    install_interrupt_handlers("test");
    {
      CriticalSection outer;
      {
        CriticalSection inner;
        raise(SIGTERM);
      }
      if (write(fds[1], "finished", 8) != 8) return 3;
    }
    if (write(fds[1], " after", 6) != 6) return 4;
    return 0;
  });
  close(fds[1]);
  char buf[64] = {};
  std::string got;
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  CHECK(rc == 75);
  CHECK(got == "finished");
}

TEST_CASE("write_all: everything written, or the errno of the write that failed") {
  char dir_template[] = "/tmp/mapsync-write-all.XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string path = std::string(dir_template) + "/f";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  std::string big(3 * 1024 * 1024 + 17, 'x');
  big[12345] = '\n';
  CHECK(mapsync::write_all(fd, big) == 0);
  CHECK(mapsync::write_all(fd, "") == 0);
  ::close(fd);
  CHECK(mapsync::read_regular_file(path, "test", big.size()) == big);
  const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(full >= 0);
  CHECK(mapsync::write_all(full, "x") == ENOSPC);
  ::close(full);
  CHECK(mapsync::write_all(-1, "x") == EBADF);
  ::unlink(path.c_str());
  ::rmdir(dir_template);
}

TEST_CASE("replace_file: the whole new file by rename, exactly its mode, and no temp file left") {
  char dir_template[] = "/tmp/mapsync-replace.XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template, path = dir + "/state";
  const auto entries = [&] {
    const std::filesystem::directory_iterator it(dir);
    return static_cast<std::size_t>(std::distance(begin(it), end(it)));
  };
  const mode_t old_umask = ::umask(077);
  std::string what;
  CHECK(mapsync::replace_file(path, "one\n", {.mode = 0644, .temp_template = dir + "/.t.XXXXXX.x", .suffix_len = 2}, &what) == 0);
  ::umask(old_umask);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);  // not narrowed by the umask: node_exporter reads it
  const ino_t first = st.st_ino;
  // A symlink at path is replaced, never followed.
  const std::string victim = dir + "/victim";
  { std::ofstream(victim) << "keep\n"; }
  ::unlink(path.c_str());
  REQUIRE(::symlink(victim.c_str(), path.c_str()) == 0);
  CHECK(mapsync::replace_file(path, "two\n", {.mode = 0600, .temp_template = dir + "/.t.XXXXXX", .durable = false}, &what) == 0);
  CHECK(mapsync::read_regular_file(victim, "test", 100) == "keep\n");
  CHECK(mapsync::read_regular_file(path, "test", 100) == "two\n");
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(st.st_ino != first);
  CHECK(entries() == 2);
  // A failed rename (a directory in the way) names the step and leaves no temp file.
  const std::string blocked = dir + "/blocked";
  REQUIRE(::mkdir(blocked.c_str(), 0700) == 0);
  REQUIRE(::mkdir((blocked + "/inside").c_str(), 0700) == 0);
  CHECK(mapsync::replace_file(blocked, "x", {.temp_template = dir + "/.t.XXXXXX"}, &what) != 0);
  CHECK(what.find("cannot rename " + dir + "/.t.") == 0);
  CHECK(entries() == 3);
  // No directory to put the temp file in: "cannot create", and the throwing form says 73.
  CHECK(mapsync::replace_file(dir + "/none/f", "x", {.temp_template = dir + "/none/.t.XXXXXX"}, &what) == ENOENT);
  CHECK(what.find("cannot create " + dir + "/none/.t.") == 0);
  try {
    mapsync::replace_file_or_fail(dir + "/none/f", "x", {.temp_template = dir + "/none/.t.XXXXXX"});
    FAIL("no exception");
  } catch (const mapsync::Error& e) {
    CHECK(e.status() == mapsync::Exit::cantcreat);
  }
  std::filesystem::remove_all(dir);
}
