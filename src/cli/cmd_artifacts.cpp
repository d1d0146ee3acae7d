// `lattice artifacts RUN[/EXP] [--kind artifact|checkpoint|all] [--download DIR]`:
// lists what experiments kept, or downloads the newest version of each file.
// Downloads stream to DIR/.../<path>.part while hashing, resume an existing
// .part with a Range request, and are renamed into place only after the
// sha256 matched. Paths come from the server and are untrusted: they are
// checked and opened beneath DIR only (common/safe_path.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iostream>

#include "cli/artifact_plan.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/metrics_table.h"
#include "cli/table.h"
#include "common/fs.h"
#include "common/safe_path.h"
#include "common/units.h"
#include "net/http_client.h"
#include "net/http_types.h"
#include "snapshot/sha256.h"

namespace lattice::cli {
namespace {

using namespace std::chrono_literals;

// How long a download may wait for more data before it gives up.
constexpr auto kIdleTimeout = 60s;
// Transfers cut short by the network are resumed this many more times.
constexpr int kResumeRetries = 2;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Parent(const std::string& rel) { return rel.substr(0, rel.rfind('/')); }
std::string Base(const std::string& rel) { return rel.substr(rel.rfind('/') + 1); }

// True when dir/destination already holds exactly this content.
bool UpToDate(int dirfd, const PlannedDownload& d) {
  auto opened = OpenBeneath(dirfd, d.destination, O_RDONLY, 0, false);
  if (!opened.ok()) return false;
  Fd fd(*opened);
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) != d.entry.size)
    return false;
  snapshot::Sha256Stream hash;
  if (!hash.UpdateFromFile(fd.get(), d.entry.size, d.destination).ok()) return false;
  return hash.FinishHex() == d.entry.sha256;
}

bool Transient(const Error& e) {
  return e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kDeadlineExceeded;
}

// Downloads one planned file into dirfd; returns false when it was already
// there (nothing transferred).
Result<bool> DownloadOne(net::HttpClient& http, const std::string& blobs, int dirfd,
                         const PlannedDownload& d) {
  const ArtifactEntry& e = d.entry;
  if (UpToDate(dirfd, d)) return false;
  LATTICE_ASSIGN_OR_RETURN(int raw, OpenBeneath(dirfd, d.partial, O_RDWR | O_CREAT, 0644, true));
  Fd part(raw);
  LATTICE_ASSIGN_OR_RETURN(int raw_parent,
                           OpenBeneath(dirfd, Parent(d.partial), O_RDONLY | O_DIRECTORY, 0, false));
  Fd parent(raw_parent);
  struct stat st{};
  if (::fstat(part.get(), &st) != 0) return ErrnoError("stat " + d.partial, errno);
  if (!S_ISREG(st.st_mode)) return Error(ErrorCode::kIo, d.partial + " is not a regular file");

  auto restart = [&](snapshot::Sha256Stream* hash, uint64_t* have) -> Status {
    if (::ftruncate(part.get(), 0) != 0) return ErrnoError("truncating " + d.partial, errno);
    if (::lseek(part.get(), 0, SEEK_SET) != 0) return ErrnoError("seeking in " + d.partial, errno);
    hash->Reset();
    *have = 0;
    return OkStatus();
  };
  snapshot::Sha256Stream hash;
  uint64_t have = static_cast<uint64_t>(st.st_size);
  if (have > e.size) {
    LATTICE_RETURN_IF_ERROR(restart(&hash, &have));
  } else {
    LATTICE_RETURN_IF_ERROR(hash.UpdateFromFile(part.get(), have, d.partial));
    if (::lseek(part.get(), static_cast<off_t>(have), SEEK_SET) < 0)
      return ErrnoError("seeking in " + d.partial, errno);
  }

  const std::string what = d.destination;
  bool retried_range = false;
  for (int tries = 0; have < e.size; ++tries) {
    auto sink = [&](std::string_view chunk) -> Status {
      if (have + chunk.size() > e.size)
        return Error(ErrorCode::kIo, "the server sent more than the " + std::to_string(e.size) +
                                         " bytes listed for " + what);
      LATTICE_RETURN_IF_ERROR(fs::WriteAll(part.get(), chunk));
      hash.Update(chunk);
      have += chunk.size();
      return OkStatus();
    };
    uint64_t asked = have;
    auto on_head = [&](const net::DownloadHead& head) -> Status {
      if (asked > 0 && !head.partial) return restart(&hash, &have);  // a 200: the whole blob again
      return OkStatus();
    };
    auto result = http.Download(blobs + e.sha256, asked, sink, kIdleTimeout, on_head);
    if (!result.ok()) {
      if (Transient(result.error()) && tries < kResumeRetries) continue;
      return result.error().Wrap("downloading " + what + " (kept " + d.partial + " to resume)");
    }
    if (result->status == 416 && asked > 0 && !retried_range) {  // the .part is not a prefix we can extend
      retried_range = true;
      LATTICE_RETURN_IF_ERROR(restart(&hash, &have));
      continue;
    }
    if (result->status / 100 != 2) {
      net::HttpResponse response;
      response.status = result->status;
      response.body = result->error_body;
      return ApiClient::ErrorFrom(response).Wrap("downloading " + what);
    }
    if (have < e.size && result->received == 0)
      return Error(ErrorCode::kIo, "the server's copy of " + what + " is shorter than the " +
                                       std::to_string(e.size) + " bytes listed");
  }

  std::string got = hash.FinishHex();
  if (got != e.sha256) {
    ::unlinkat(parent.get(), Base(d.partial).c_str(), 0);
    return Error(ErrorCode::kIo, "the content of " + what + " does not match its sha256 (expected " +
                                     e.sha256 + ", got " + got + "); removed " + d.partial);
  }
  if (::fsync(part.get()) != 0) return ErrnoError("fsync " + d.partial, errno);
  if (::renameat(parent.get(), Base(d.partial).c_str(), parent.get(), Base(d.destination).c_str()) != 0)
    return ErrnoError("renaming " + d.partial + " to " + d.destination, errno);
  return true;
}

int Download(const GlobalOptions& g, ApiClient& client, const std::vector<ArtifactEntry>& entries,
             const std::string& dir) {
  auto plan = PlanDownloads(NewestVersions(entries));
  if (!plan.ok()) return Fail(plan.error());
  if (Status made = fs::MakeDirs(dir); !made.ok()) return Fail(made.error());
  Fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd.get() < 0) return Fail(ErrnoError("opening " + dir, errno));
  auto url = net::ParseUrl(client.connection().url);
  if (!url.ok()) return Fail(url.error());
  net::HttpClient http(*url, client.connection().token);

  Json files = Json::array();
  uint64_t count = 0, bytes = 0;
  for (const auto& d : *plan) {
    auto fetched = DownloadOne(http, "/api/v1/blobs/", dirfd.get(), d);
    if (!fetched.ok()) return Fail(fetched.error());
    if (*fetched) {
      ++count;
      bytes += d.entry.size;
    }
    if (g.json) {
      files.push_back({{"experiment", d.entry.experiment}, {"attempt", d.entry.attempt}, {"kind", d.entry.kind},
                       {"path", d.entry.path}, {"sha256", d.entry.sha256}, {"size", d.entry.size},
                       {"file", d.destination}, {"downloaded", *fetched}});
    } else {
      std::cout << d.destination << "  " << HumanBytes(d.entry.size) << (*fetched ? "" : "  (up to date)")
                << "\n";
    }
  }
  if (g.json) {
    std::cout << Json{{"directory", dir}, {"files", files}, {"downloaded", count}, {"bytes", bytes}}.dump()
              << "\n";
  } else {
    std::cout << "downloaded " << count << (count == 1 ? " file (" : " files (") << HumanBytes(bytes) << ") to "
              << dir;
    if (plan->size() > count) std::cout << "; " << plan->size() - count << " already up to date";
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

int ArtifactsCommand(const GlobalOptions& g, const ArtifactsOptions& o) {
  auto target = ParseTarget(o.target);
  if (!target.ok()) return Fail(target.error());
  const auto& [run, exp] = *target;
  auto kind = KindQuery(o.kind);
  if (!kind.ok()) return Fail(kind.error());
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  std::string query;
  if (exp) query += "experiment=" + std::to_string(*exp);
  if (!kind->empty()) query += (query.empty() ? "" : "&") + std::string("kind=") + *kind;
  auto doc = client->Get("/runs/" + net::PercentEncode(run) + "/artifacts" + (query.empty() ? "" : "?" + query));
  if (!doc.ok()) return Fail(doc.error());
  auto entries = ParseArtifacts(*doc);
  if (!entries.ok()) return Fail(entries.error());
  if (!o.download_dir.empty()) return Download(g, *client, *entries, o.download_dir);
  if (g.json) {
    std::cout << doc->dump() << "\n";
    return kExitOk;
  }
  if (entries->empty()) {
    std::string what = o.kind == "all" ? "artifacts or checkpoints" : o.kind + "s";
    std::cout << "no " << what << " for " << o.target << "\n";
    return kExitOk;
  }
  Table table({"EXP", "ATTEMPT", "KIND", "PATH", "SIZE", "SHA256", "CREATED"});
  for (const auto& e : *entries)
    table.Add({std::to_string(e.experiment), std::to_string(e.attempt), e.kind, Printable(e.path), HumanBytes(e.size),
               ShortSha(e.sha256), e.created_at.empty() ? "-" : e.created_at});
  std::cout << table.Render();
  return kExitOk;
}

}  // namespace lattice::cli
