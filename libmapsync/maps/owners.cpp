// owners.cpp - see owners.h.
#include "libmapsync/maps/owners.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "libmapsync/core/error.h"
#include "libmapsync/core/fileio.h"
#include "libmapsync/maps/publish.h"

namespace mapsync {

OwnerCode owner_of(const Snapshot& s, const Origin& o) {
  if (o.table != Table::addresses) return owner_code(o.table, o.id);
  // AUTO_INCREMENT ids are mostly dense: the row is usually where its id says.
  if (!s.addresses.empty() && o.id >= s.addresses.front().id) {
    const std::size_t guess = o.id - s.addresses.front().id;
    if (guess < s.addresses.size() && s.addresses[guess].id == o.id) return owner_code(Table::accounts, s.addresses[guess].account_id);
  }
  const auto it = std::lower_bound(s.addresses.begin(), s.addresses.end(), o.id,
                                   [](const Address& a, std::uint32_t id) { return a.id < id; });
  return it != s.addresses.end() && it->id == o.id ? owner_code(Table::accounts, it->account_id) : 0;
}

void AliasGraph::normalize() {
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  std::sort(unresolved.begin(), unresolved.end());
  unresolved.erase(std::unique(unresolved.begin(), unresolved.end()), unresolved.end());
}

std::string owners_file(const std::string& map_name) { return ".mapsync-owners." + map_name; }

namespace {

constexpr const char* kOwnersMagic = "mapsync-owners 3\n";
constexpr const char* kGraphMagic = "mapsync-graph 1\n";

// LEB128: an owner and a line length take 4 and 1 bytes where 16 fixed ones took them
// (a million entries: 7 MB a map to write and read each run, not 22).
void put_varint(std::string& out, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>((v & 0x7f) | 0x80));
  out.push_back(static_cast<char>(v));
}

bool get_varint(const std::string& data, std::size_t& pos, std::uint64_t& v) {
  v = 0;
  for (unsigned shift = 0; pos < data.size() && shift < 64; shift += 7) {
    const auto b = static_cast<unsigned char>(data[pos++]);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Tables are few (model.h): the id above four bits of table keeps small ids short.
std::uint64_t pack_owner(OwnerCode c) { return (static_cast<std::uint64_t>(owner_id(c)) << 4) | static_cast<std::uint64_t>(owner_table(c)); }
OwnerCode unpack_owner(std::uint64_t v) { return owner_code(static_cast<Table>(v & 0xf), static_cast<std::uint32_t>(v >> 4)); }
static_assert(static_cast<int>(Table::delivery_targets) < 16, "pack_owner() keeps a table in four bits");

void put64(std::string& out, std::uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}

// A new temp file in pub's directory, written in pieces, fsynced and staged: private to
// the user running builds, renamed with the maps it describes.
class StagedFile {
 public:
  StagedFile(Publisher& pub, std::string final_name) : pub_(pub), final_(std::move(final_name)), temp_(pub.temp_path(final_)) {
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0) fail(Exit::cantcreat, errno_text("cannot create " + temp_, errno));
  }
  ~StagedFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

  void write(const std::string& data) {
    if (const int err = write_all(fd_, data)) failed(err);
  }
  void finish() {
    if (::fsync(fd_) != 0) failed(errno);
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) failed(errno);
    pub_.stage(temp_, final_, ::geteuid(), ::getegid(), 0600);
  }

 private:
  [[noreturn]] void failed(int err) {
    fail(err == ENOSPC || err == EIO ? Exit::tempfail : Exit::cantcreat, errno_text("cannot write " + temp_, err));
  }
  Publisher& pub_;
  const std::string final_, temp_;
  int fd_ = -1;
};

void stage_bytes(Publisher& pub, const std::string& final_name, const std::string& data) {
  StagedFile f(pub, final_name);
  f.write(data);
  f.finish();
}

// Reads "text\n" at pos; false at the end of the data.
bool line(const std::string& data, std::size_t& pos, std::string& out) {
  const auto nl = data.find('\n', pos);
  if (nl == std::string::npos) return false;
  out = data.substr(pos, nl - pos);
  pos = nl + 1;
  return true;
}

bool get64(const std::string& data, std::size_t& pos, std::uint64_t& v) {
  if (data.size() - pos < 8) return false;
  std::memcpy(&v, data.data() + pos, 8);
  pos += 8;
  return true;
}

}  // namespace

bool read_whole_file(const std::string& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (ok) {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (ok && done < out.size()) {
      const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ok = false;
      else done += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  return ok;
}

void OwnerIndex::add(OwnerCode owner, std::uint64_t line_bytes) {
  put_varint(body_, pack_owner(owner));
  put_varint(body_, line_bytes);
  ++count_;
}

bool OwnerIndex::Cursor::next(Entry& e) {
  std::uint64_t owner = 0, bytes = 0;
  if (!get_varint(body_, pos_, owner) || !get_varint(body_, pos_, bytes)) return false;
  e = {unpack_owner(owner), offset_, bytes};
  offset_ += bytes;
  return true;
}

namespace {

std::string owners_header(const std::string& digest, std::uint64_t count) {
  return kOwnersMagic + digest + "\n" + std::to_string(count) + "\n";
}

}  // namespace

void stage_owners(Publisher& pub, const std::string& map_name, const std::string& digest, std::size_t count,
                  const std::function<OwnedLine()>& next) {
  // In pieces: no second copy of the entries at the peak of a full build.
  StagedFile f(pub, owners_file(map_name));
  std::string data = owners_header(digest, count);
  for (std::size_t i = 0; i < count; ++i) {
    const OwnedLine l = next();
    put_varint(data, pack_owner(l.owner));
    put_varint(data, l.line_bytes);
    if (data.size() >= (1u << 20)) {
      f.write(data);
      data.clear();
    }
  }
  f.write(data);
  f.finish();
}

void stage_owners(Publisher& pub, const std::string& map_name, const std::string& digest, const OwnerIndex& index) {
  StagedFile f(pub, owners_file(map_name));
  f.write(owners_header(digest, index.size()));
  f.write(index.encoded());
  f.finish();
}

bool read_owners(const std::string& dir, const std::string& map_name, const std::string& digest, std::uint64_t entries,
                 OwnerIndex& out, std::string& why) {
  std::string data, d, n;
  std::size_t pos = std::strlen(kOwnersMagic);
  if (!read_whole_file(dir + "/" + owners_file(map_name), data)) {
    why = "no owner index for map " + map_name;
    return false;
  }
  why = "the owner index of map " + map_name + " does not describe the published map";
  if (data.compare(0, pos, kOwnersMagic) != 0 || !line(data, pos, d) || !line(data, pos, n) || d != digest ||
      n != std::to_string(entries))
    return false;
  // Exactly entries whole entries, nothing after them: one pass of the decoder.
  data.erase(0, pos);
  std::uint64_t v = 0, seen = 0;
  for (pos = 0; pos < data.size(); ++seen)
    if (!get_varint(data, pos, v) || !get_varint(data, pos, v)) return false;
  if (seen != entries) return false;
  out.body_ = std::move(data);
  out.count_ = entries;
  why.clear();
  return true;
}

void stage_graph(Publisher& pub, std::uint64_t serial, const AliasGraph& g) {
  std::string data = kGraphMagic + std::to_string(serial) + "\n" + std::to_string(g.edges.size()) + "\n" +
                     std::to_string(g.unresolved.size()) + "\n";
  for (const auto& [a, b] : g.edges) {
    put64(data, a);
    put64(data, b);
  }
  for (const auto& [a, key] : g.unresolved) {
    put64(data, a);
    put64(data, key.size());
    data += key;
  }
  stage_bytes(pub, kGraphFile, data);
}

bool read_graph(const std::string& dir, std::uint64_t serial, AliasGraph& g, std::string& why) {
  std::string data, s, ne, nu;
  std::size_t pos = std::strlen(kGraphMagic);
  why = "the alias graph beside the maps is missing or does not match the published serial";
  if (!read_whole_file(dir + "/" + kGraphFile, data) || data.compare(0, pos, kGraphMagic) != 0 || !line(data, pos, s) ||
      !line(data, pos, ne) || !line(data, pos, nu) || s != std::to_string(serial))
    return false;
  const std::uint64_t edges = std::strtoull(ne.c_str(), nullptr, 10), unres = std::strtoull(nu.c_str(), nullptr, 10);
  if (edges > data.size() / 16) return false;
  g.edges.resize(edges);
  for (auto& [a, b] : g.edges)
    if (!get64(data, pos, a) || !get64(data, pos, b)) return false;
  g.unresolved.clear();
  for (std::uint64_t i = 0; i < unres; ++i) {
    std::uint64_t a = 0, len = 0;
    if (!get64(data, pos, a) || !get64(data, pos, len) || data.size() - pos < len) return false;
    g.unresolved.emplace_back(a, data.substr(pos, len));
    pos += len;
  }
  return pos == data.size();
}

}  // namespace mapsync
