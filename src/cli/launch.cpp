// ssm train --nproc N: N training processes on this machine, each given torchrun's environment (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT a free port). The launcher waits for them; when one
// fails, the others stop on their own within trainer.dist.timeout_s (they name the rank that stopped), and any still
// running after that and a grace period are terminated.
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ssm::cli {
namespace {

// A TCP port that is free now (the kernel's choice for port 0; the rendezvous binds it moments later).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("train --nproc: socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("train --nproc: no free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "ended";
}

}  // namespace

int launch_local(int nproc, const std::vector<std::string>& train_args, int timeout_s) {
  const int port = free_port();
  std::vector<std::string> base_env;
  for (char** e = environ; *e; ++e) {
    const std::string v = *e;
    bool ours = false;
    for (const char* k : {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT="})
      ours |= v.rfind(k, 0) == 0;
    if (!ours) base_env.push_back(v);
  }
  std::vector<pid_t> pids(nproc, -1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t def;
  sigemptyset(&def);
  sigaddset(&def, SIGINT);
  sigaddset(&def, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  // Ctrl-C reaches every process of the terminal's group: the ranks stop together (each saves nothing but rank 0's
  // last.pt); the launcher only waits for them.
  struct sigaction ign{}, old_int{};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ign, &old_int);
  for (int r = 0; r < nproc; ++r) {
    std::vector<std::string> env = base_env;
    env.insert(env.end(), {"RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(nproc),
                           "LOCAL_RANK=" + std::to_string(r), "LOCAL_WORLD_SIZE=" + std::to_string(nproc),
                           "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)});
    std::vector<std::string> args = {"ssm", "train"};
    args.insert(args.end(), train_args.begin(), train_args.end());
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = posix_spawn(&pids[r], "/proc/self/exe", nullptr, &attr, argv.data(), envp.data());
    if (rc != 0) {
      std::fprintf(stderr, "ssm train --nproc: cannot start rank %d: %s\n", r, std::strerror(rc));
      for (int k = 0; k < r; ++k) ::kill(pids[k], SIGTERM);
      for (int k = 0; k < r; ++k) ::waitpid(pids[k], nullptr, 0);
      sigaction(SIGINT, &old_int, nullptr);
      return 1;
    }
  }
  posix_spawnattr_destroy(&attr);

  int result = 0, running = nproc;
  std::chrono::steady_clock::time_point deadline{};
  bool failed = false;
  while (running > 0) {
    int status = 0;
    const pid_t p = ::waitpid(-1, &status, failed ? WNOHANG : 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p == 0) {  // after a failure: polling until the deadline
      if (std::chrono::steady_clock::now() > deadline) {
        for (int r = 0; r < nproc; ++r)
          if (pids[r] > 0) {
            std::fprintf(stderr, "ssm train --nproc: rank %d still running %d s after the failure: terminating it\n",
                         r, timeout_s + 30);
            ::kill(pids[r], SIGTERM);
          }
        deadline = std::chrono::steady_clock::now() + std::chrono::hours(24);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    int rank = -1;
    for (int r = 0; r < nproc; ++r)
      if (pids[r] == p) rank = r;
    if (rank < 0) continue;
    pids[rank] = -1;
    --running;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
      std::fprintf(stderr, "ssm train --nproc: rank %d %s\n", rank, describe(status).c_str());
      if (!failed) {
        failed = true;
        result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s + 30);
      }
    }
  }
  sigaction(SIGINT, &old_int, nullptr);
  return result;
}

}  // namespace ssm::cli
