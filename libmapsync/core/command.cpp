// command.cpp - see command.h.
#include "libmapsync/core/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "libmapsync/core/error.h"

namespace mapsync {
namespace {

using Clock = std::chrono::steady_clock;

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

// In the child, between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(char* const* argv, char* const* envp, int out_fd, int err_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Ignored signals stay ignored across exec; a hook expects the defaults.
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) signal(sig, SIG_DFL);
  setpgid(0, 0);
  const int null = open("/dev/null", O_RDONLY);
  if (null < 0 || dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 || chdir("/") != 0) {
    const int e = errno;
    (void)!write(err_fd, &e, sizeof e);
    _exit(127);
  }
  // Nothing of ours reaches the hook: the database connection, the lock file, the maps.
  long marked = -1;
#ifdef SYS_close_range
  marked = syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
#endif
  if (marked != 0)
    for (int fd = 3; fd < 1024; ++fd)
      if (fd != err_fd) close(fd);
  execve(argv[0], argv, envp);
  const int e = errno;
  (void)!write(err_fd, &e, sizeof e);
  _exit(127);
}

}  // namespace

std::string CommandResult::describe(unsigned timeout_seconds) const {
  if (!started) return "not started: " + error;
  if (timed_out) return "timed out after " + std::to_string(timeout_seconds) + " s (its process group was killed)";
  if (signal) return "killed by signal " + std::to_string(signal);
  return "exit " + std::to_string(exit_status);
}

CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          unsigned timeout_seconds, std::size_t max_output) {
  CommandResult r;
  const auto t0 = Clock::now();
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    r.error = "the command must start with an absolute path";
    return r;
  }
  std::vector<char*> av, ev;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    r.error = errno_text("pipe", errno);
    return r;
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    r.error = errno_text("pipe", errno);
    ::close(out[0]);
    ::close(out[1]);
    return r;
  }
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(av.data(), ev.data(), out[1], err[1]);
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    r.error = errno_text("fork", errno);
    ::close(out[0]);
    ::close(err[0]);
    return r;
  }
  ::setpgid(pid, pid);  // both sides: whichever runs first, the group exists before a kill
  // The error pipe closes on exec (O_CLOEXEC) or carries the errno of what failed.
  int child_errno = 0;
  ssize_t n;
  while ((n = ::read(err[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
  }
  ::close(err[0]);
  r.started = n != static_cast<ssize_t>(sizeof child_errno);
  if (!r.started) r.error = errno_text(argv[0], child_errno);

  const int pidfd = open_pidfd(pid);
  const auto deadline = t0 + std::chrono::seconds(timeout_seconds);
  bool pipe_open = true, exited = false;
  int status = 0;
  char buf[4096];
  while (!exited) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 && !r.timed_out) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
    }
    pollfd fds[2];
    nfds_t nfds = 0;
    if (pipe_open) fds[nfds++] = {out[0], POLLIN, 0};
    if (pidfd >= 0) fds[nfds++] = {pidfd, POLLIN, 0};
    // Without a pidfd (an old kernel) the exit is noticed by looking every 50 ms.
    const int wait_ms = r.timed_out ? 50 : static_cast<int>(pidfd >= 0 ? std::min<long long>(left, 1000) : std::min<long long>(left, 50));
    if (::poll(fds, nfds, std::max(wait_ms, 0)) < 0 && errno != EINTR) break;
    if (pipe_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      n = ::read(out[0], buf, sizeof buf);
      if (n <= 0 && !(n < 0 && errno == EINTR)) pipe_open = false;
      for (ssize_t i = 0; i < n; ++i) {
        if (r.output.size() < max_output) r.output += buf[i];
        else r.truncated = true;
      }
    }
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) exited = true;
    else if (w < 0 && errno != EINTR) break;
  }
  // What the child left in the pipe before it exited (a daemon it started may hold the
  // pipe open for ever: read only what is there).
  ::fcntl(out[0], F_SETFL, O_NONBLOCK);
  while (pipe_open && (n = ::read(out[0], buf, sizeof buf)) > 0)
    for (ssize_t i = 0; i < n; ++i) {
      if (r.output.size() < max_output) r.output += buf[i];
      else r.truncated = true;
    }
  ::close(out[0]);
  if (pidfd >= 0) ::close(pidfd);
  if (exited && WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  if (exited && WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace mapsync
