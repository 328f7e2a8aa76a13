// incremental.cpp - see incremental.h.
#include "libmapsync/maps/incremental.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "libmapsync/core/address.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/testhooks.h"
#include "libmapsync/db/database.h"
#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/publish_steps.h"
#include "libmapsync/maps/snapshot.h"

namespace mapsync {

namespace {

// Beyond this many changed rows a full build costs about as much and is simpler to trust.
constexpr std::uint64_t kMaxChanges = 20000;
// Owners read and rendered (the affected ones and all they lead to): a change to a group
// of the whole campus is a full build.
constexpr std::size_t kMaxRendered = 200000;
// Rounds of "a new key is a target somebody could not resolve before": each adds owners.
constexpr int kMaxRounds = 3;

using OwnerSet = std::unordered_set<OwnerCode>;

std::string owner_text(OwnerCode c) { return std::string(table_name(owner_table(c))) + " id=" + std::to_string(owner_id(c)); }

// The published alias graph, by parent, by child and by unresolved key.
struct GraphIndex {
  std::vector<std::pair<OwnerCode, OwnerCode>> down, up;
  std::vector<std::pair<std::string_view, OwnerCode>> unresolved;

  explicit GraphIndex(const AliasGraph& g) : down(g.edges) {
    for (const auto& [p, c] : g.edges) up.emplace_back(c, p);
    std::sort(down.begin(), down.end());
    std::sort(up.begin(), up.end());
    for (const auto& [p, key] : g.unresolved) unresolved.emplace_back(key, p);
    std::sort(unresolved.begin(), unresolved.end());
  }
  template <class Fn>
  static void each(const std::vector<std::pair<OwnerCode, OwnerCode>>& v, OwnerCode from, Fn fn) {
    for (auto it = std::lower_bound(v.begin(), v.end(), std::make_pair(from, OwnerCode{0})); it != v.end() && it->first == from; ++it)
      fn(it->second);
  }
};

// Everything reachable from seeds along next (the seeds included) into out.
template <class Next>
void closure(const OwnerSet& seeds, OwnerSet& out, Next next) {
  std::vector<OwnerCode> stack(seeds.begin(), seeds.end());
  while (!stack.empty()) {
    const OwnerCode c = stack.back();
    stack.pop_back();
    if (!out.insert(c).second) continue;
    next(c, [&](OwnerCode n) {
      if (!out.count(n)) stack.push_back(n);
    });
  }
}

// The owners the change log names since from (exclusive) up to to; false with why when the
// log cannot say (a gap, a change beyond single rows).
bool read_changes(Database& db, std::uint64_t from, std::uint64_t to, OwnerSet& changed, std::string& why) {
  std::uint64_t start = 0;
  if (!db.scalar("SELECT serial FROM change_log_start WHERE id = 1", "reading the start of the change log", start)) {
    why = "the change log has no start row";
    return false;
  }
  if (from < start) {
    why = "the change log starts at serial " + std::to_string(start) + ", after the published serial " + std::to_string(from);
    return false;
  }
  if (to - from > kMaxChanges) {
    why = std::to_string(to - from) + " changes since the published serial (more than " + std::to_string(kMaxChanges) + ")";
    return false;
  }
  std::uint64_t expect = from + 1;
  bool ok = true;
  db.query("SELECT serial, tbl, row_id, owner_new, owner_old FROM change_log WHERE serial > ? AND serial <= ? ORDER BY serial",
           {from, to}, "reading the change log", [&](const SqlRow& r) {
             if (!ok) return;
             if (r.u64(1) != expect) {
               why = "the change log has no row for serial " + std::to_string(expect);
               ok = false;
               return;
             }
             ++expect;
             const std::string_view t = r.view(2);
             const auto id = static_cast<std::uint32_t>(r.u64(3));
             const auto owners = [&](Table tab) {
               for (int col : {4, 5})
                 if (!r.null(col)) changed.insert(owner_code(tab, static_cast<std::uint32_t>(r.u64(col))));
             };
             if (t == "accounts") changed.insert(owner_code(Table::accounts, id));
             else if (t == "addresses" || t == "account_forwards") owners(Table::accounts);
             else if (t == "group_aliases") changed.insert(owner_code(Table::group_aliases, id));
             else if (t == "group_members") owners(Table::group_aliases);
             else if (t == "mailing_lists") changed.insert(owner_code(Table::mailing_lists, id));
             else if (t == "canonical_rewrites") changed.insert(owner_code(Table::canonical_rewrites, id));
             else {
               why = "a change to " + std::string(t) + " (serial " + std::to_string(r.u64(1)) + ") reaches beyond single rows";
               ok = false;
             }
           });
  if (ok && expect != to + 1) {
    why = "the change log has no rows for serials " + std::to_string(expect) + " to " + std::to_string(to);
    ok = false;
  }
  return ok;
}

}  // namespace

namespace {

// The published lines of a map whose owner is in wanted (sorted), in file order: the owner
// sidecar says where each starts, so only those lines are read. fn(owner, key, value).
bool published_lines(const std::string& dir, const MapConfig& mc, bool alias_syntax, const OwnerIndex& index,
                     const std::vector<OwnerCode>& wanted, std::string& why,
                     const std::function<void(OwnerCode, std::string_view, std::string_view)>& fn) {
  const std::string path = dir + "/" + mc.spec.text_file;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail(Exit::tempfail, errno_text("cannot read " + path, errno));
  std::string buf;
  bool ok = true;
  const OwnerFilter is_wanted(wanted);
  OwnerIndex::Cursor cursor(index);
  for (OwnerIndex::Entry e; ok && cursor.next(e);) {
    if (!is_wanted(e.owner)) continue;
    buf.resize(e.line_bytes);  // the line and its newline
    std::size_t got = 0;
    while (got < buf.size()) {
      const ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(e.offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    ok = got == buf.size() && got > 0 && buf.back() == '\n';
    const std::string_view l = std::string_view(buf).substr(0, got ? got - 1 : 0);
    std::string_view k, v;
    ok = ok && split_text_line(l, alias_syntax, k, v) && l.find('\n') == std::string_view::npos;
    if (ok) fn(e.owner, k, v);
  }
  ::close(fd);
  if (!ok) why = path + ": not the text source its owner index describes";
  return ok;
}

// Which of the affected owners change what their parents see: their virtual value, one of
// their keys gone, or their own edges (a depth, a loop). Those are added to more; false
// with why when the published map cannot be read as ours.
bool propagating(const std::vector<OwnerCode>& affected, const std::string& dir, const MapConfig& virt_cfg,
                 const OwnerIndex& published, const IncrementalMap& virt, AliasGraph& now, const GraphIndex& g, OwnerSet& more, std::string& why) {
  // Only owners with a parent not rendered yet need a look.
  std::vector<OwnerCode> open;
  for (OwnerCode c : affected) {
    bool outside = false;
    GraphIndex::each(g.up, c, [&](OwnerCode p) { outside = outside || !sorted_has(affected, p); });
    if (outside) open.push_back(c);
  }
  if (open.empty()) return true;
  // owner -> (value, keys), published and rendered now
  std::unordered_map<OwnerCode, std::pair<std::string, std::vector<std::string>>> before, after;
  if (!published_lines(dir, virt_cfg, false, published, open, why, [&](OwnerCode o, std::string_view k, std::string_view v) {
        auto& b = before[o];
        b.first = v;
        b.second.emplace_back(k);
      }))
    return false;
  for (std::size_t j = 0; j < virt.fresh.size(); ++j)
    if (sorted_has(open, virt.fresh_owners[j])) {
      auto& a = after[virt.fresh_owners[j]];
      a.first = virt.fresh[j].value;
      a.second.emplace_back(virt.fresh[j].key);
    }
  now.normalize();
  for (OwnerCode c : open) {
    const auto b = before.find(c), a = after.find(c);
    bool same = b != before.end() && a != after.end() && b->second.first == a->second.first &&
                std::includes(a->second.second.begin(), a->second.second.end(), b->second.second.begin(), b->second.second.end());
    std::vector<OwnerCode> old_edges, new_edges;
    GraphIndex::each(g.down, c, [&](OwnerCode x) { old_edges.push_back(x); });
    for (const auto& [p, x] : now.edges)
      if (p == c) new_edges.push_back(x);
    same = same && old_edges == new_edges;
    for (const auto& e : now.unresolved) same = same && e.first != c;
    for (const auto& e : g.unresolved) same = same && e.second != c;
    if (!same) more.insert(c);
  }
  return true;
}

}  // namespace

struct IncrementalBuild::Impl {
  Snapshot snap;
  Findings findings;
  AliasGraph graph;
  std::unique_ptr<Renderer> renderer;
  std::vector<MapEntries> rendered;  // owns the entries fresh points to
};

IncrementalBuild::IncrementalBuild(const MapsSettings& config, const PublishState& published, std::string directory)
    : cfg_(config), old_(published), dir_(std::move(directory)) {}

IncrementalBuild::~IncrementalBuild() = default;

namespace {

// Reads the rows of every owner in want that is not read yet, and every row they lead to:
// the published graph's children, and the owners of the targets the rows name now (asked
// of the database, which compares case-insensitively; an owner it misses makes the
// renderer report the target, and the build goes full).
class Loader {
 public:
  Loader(PartialReader& reader, const Snapshot& s, const GraphIndex& g) : rd_(reader), s_(s), g_(g) {}

  std::size_t loaded() const { return loaded_.size(); }

  bool load(const OwnerSet& want) {
    OwnerSet seeds = want;
    while (!seeds.empty()) {
      OwnerSet fresh;
      closure(seeds, fresh, [&](OwnerCode c, auto add) {
        if (!loaded_.count(c)) GraphIndex::each(g_.down, c, add);
      });
      std::vector<std::uint32_t> acc, grp, can;
      for (OwnerCode c : fresh) {
        if (!loaded_.insert(c).second) continue;
        switch (owner_table(c)) {
          case Table::accounts: acc.push_back(owner_id(c)); break;
          case Table::group_aliases: grp.push_back(owner_id(c)); break;
          case Table::canonical_rewrites: can.push_back(owner_id(c)); break;
          default: break;  // the small tables and the lists are read whole
        }
      }
      if (loaded_.size() > kMaxRendered) return false;
      for (auto* v : {&acc, &grp, &can}) std::sort(v->begin(), v->end());
      rd_.accounts(acc);
      rd_.groups(grp);
      rd_.canonical(can);
      seeds.clear();
      for (OwnerCode c : targets_of_new_rows())
        if (!loaded_.count(c)) seeds.insert(c);
    }
    return true;
  }

 private:
  std::vector<OwnerCode> targets_of_new_rows() {
    std::vector<OwnerCode> out;
    std::vector<std::string> addresses, locals;
    // Domain names compare in ASCII lowercase (core/address.h), each lowered once here.
    std::vector<std::string> names;
    for (const Domain& d : s_.domains) names.push_back(lowercase_domain("@" + std::string(d.name)));
    const auto target = [&](std::string_view t) {
      const auto at = t.rfind('@');
      if (at == std::string_view::npos) return;
      const std::string local(t.substr(0, at)), domain = lowercase_domain(t.substr(at));
      for (std::size_t i = 0; i < s_.domains.size(); ++i) {
        const Domain& d = s_.domains[i];
        if (names[i] != domain) continue;
        addresses.emplace_back(t);
        locals.push_back(local);
        if (d.kind == DomainKind::alias)  // x@alias.edu is x@target.edu
          for (const Domain& td : s_.domains)
            if (td.id == d.target_domain_id) addresses.push_back(local + "@" + std::string(td.name));
      }
    };
    for (; fwd_ < s_.forwards.size(); ++fwd_) target(s_.forwards[fwd_].target);
    for (; mem_ < s_.group_members.size(); ++mem_) {
      const GroupMember& m = s_.group_members[mem_];
      if (m.account_id) out.push_back(owner_code(Table::accounts, m.account_id));
      else if (m.member_group_id) out.push_back(owner_code(Table::group_aliases, m.member_group_id));
      else target(m.address);
    }
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    std::sort(locals.begin(), locals.end());
    locals.erase(std::unique(locals.begin(), locals.end()), locals.end());
    if (!addresses.empty()) rd_.owners_of(addresses, locals, out);
    return out;
  }

  PartialReader& rd_;
  const Snapshot& s_;
  const GraphIndex& g_;
  OwnerSet loaded_;
  std::size_t fwd_ = 0, mem_ = 0;  // rows already looked at
};

}  // namespace

namespace {

// The entries of m owned by one of affected, in key order (render output is sorted).
void take_affected(const Snapshot& s, const std::vector<OwnerCode>& affected, const std::vector<MapEntries::Entry>& entries,
                   std::string_view fixed_value, IncrementalMap& out) {
  for (const MapEntries::Entry& e : entries) {
    const OwnerCode o = owner_of(s, e.origin);
    if (!sorted_has(affected, o)) continue;
    out.fresh.push_back({e.key, fixed_value.empty() ? e.value : fixed_value, e.origin});
    out.fresh_owners.push_back(o);
  }
}

// relay_recipients from virtual's fresh entries and the renderer's extra ones, in key order.
void merge_relay(const Snapshot& s, const std::vector<OwnerCode>& affected, const IncrementalMap& virt,
                 const std::vector<MapEntries::Entry>& extra, IncrementalMap& out) {
  IncrementalMap more;
  take_affected(s, affected, extra, {}, more);
  std::size_t i = 0, j = 0;
  while (i < virt.fresh.size() || j < more.fresh.size()) {
    const bool from_virt = j == more.fresh.size() || (i < virt.fresh.size() && virt.fresh[i].key < more.fresh[j].key);
    if (from_virt) {
      out.fresh.push_back({virt.fresh[i].key, "OK", virt.fresh[i].origin});
      out.fresh_owners.push_back(virt.fresh_owners[i++]);
    } else {
      out.fresh.push_back(more.fresh[j]);
      out.fresh_owners.push_back(more.fresh_owners[j++]);
    }
  }
}

}  // namespace

bool IncrementalBuild::prepare(Database& db, std::uint64_t published_serial, Findings& findings, std::string& why) {
  db.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "setting the isolation level");
  db.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", "starting the snapshot");
  db.check_schema(db.schema_version());
  db.scalar("SELECT CONNECTION_ID()", "asking for the connection id", conn_id_);
  if (!db.scalar("SELECT serial FROM change_serial WHERE id = 1", "reading the change serial", serial_))
    fail(Exit::data, db.where() + ": table change_serial has no row id=1");
  if (serial_ < published_serial)
    fail(Exit::tempfail, db.where() + ": the database has serial " + std::to_string(serial_) + ", older than the serial " +
                             std::to_string(published_serial) + " already published here; not going back in time");
  const bool ok = prepare_in(db, findings, why);
  // Ending the read-only transaction proves the connection survived to the last row.
  db.execute("COMMIT", "ending the snapshot");
  if (ok)
    log::info(db.where() + ": read serial " + std::to_string(serial_) + " from " + db.endpoint() + ": " +
              std::to_string(changed_rows_) + " changes, " + std::to_string(rendered_) + " accounts, groups and rewrites (incremental)");
  return ok;
}

bool IncrementalBuild::prepare_in(Database& db, Findings& findings, std::string& why) {
  const std::uint64_t serial = serial_;
  OwnerSet changed;
  if (!read_changes(db, old_.serial, serial, changed, why)) return false;
  changed_rows_ = serial - old_.serial;
  AliasGraph old_graph;
  if (!read_graph(dir_, old_.serial, old_graph, why)) return false;
  const GraphIndex g(old_graph);
  const RenderPlan plan = render_plan(cfg_.maps);
  const MapConfig* relay = plan.relay;
  const MapConfig* virt = plan.virt;
  const bool derive_relay = plan.derive_relay;
  const std::vector<MapKind>& to_render = plan.kinds;

  // Round 1 renders only the changed owners; who leads to them joins when their value,
  // their keys or their own edges changed (propagating()), or when a new key of theirs is a
  // target nobody received before. A new alias of a student then costs that student, not
  // the group of every student.
  OwnerSet affected = changed;
  for (int round = 1;; ++round) {
    affected_.assign(affected.begin(), affected.end());
    std::sort(affected_.begin(), affected_.end());

    impl_ = std::make_unique<Impl>();
    SnapshotOptions so;
    so.names = cfg_.render.canonical_generate;
    PartialReader reader(db, impl_->snap, so);
    Loader loader(reader, impl_->snap, g);
    if (!loader.load(affected)) {
      why = "the change reaches more than " + std::to_string(kMaxRendered) + " accounts, groups and lists";
      return false;
    }
    if (round == 1) testhook::pause_point("source.after_accounts", std::to_string(conn_id_));
    reader.finish();
    rendered_ = loader.loaded();
    impl_->snap.serial = serial;

    impl_->renderer = std::make_unique<Renderer>(impl_->snap, cfg_.render, impl_->findings, to_render, &impl_->graph);
    maps_.clear();
    const IncrementalMap* virt_map = nullptr;
    for (const MapConfig& mc : cfg_.maps.maps) {
      if (!mc.enabled || (derive_relay && &mc == relay)) continue;
      MapEntries& m = impl_->rendered.emplace_back(impl_->renderer->render(mc.kind));
      IncrementalMap& im = maps_.emplace_back();
      im.config = &mc;
      im.alias_syntax = m.alias_syntax;
      take_affected(impl_->snap, affected_, m.entries, {}, im);
      if (derive_relay && &mc == virt) {
        IncrementalMap& rm = maps_.emplace_back();
        rm.config = relay;
        const IncrementalMap& vm = maps_[maps_.size() - 2];
        merge_relay(impl_->snap, affected_, vm, impl_->renderer->relay_wildcards(), rm);
      }
    }
    for (const IncrementalMap& m : maps_)
      if (m.config->kind == MapKind::virtual_alias) virt_map = &m;
    if (impl_->findings.errors()) {
      for (const Finding& f : impl_->findings.all())
        if (f.severity == Finding::error) {
          why = "the changed rows do not render cleanly (" + (f.map.empty() ? "" : f.map + ": ") + f.message + ")";
          break;
        }
      return false;
    }
    // A new key that some row named as a target and could not resolve before: that row's
    // value changes too.
    OwnerSet more;
    if (virt_map)
      for (const MapEntries::Entry& e : virt_map->fresh)
        for (auto it = std::lower_bound(g.unresolved.begin(), g.unresolved.end(), std::make_pair(e.key, OwnerCode{0}));
             it != g.unresolved.end() && it->first == e.key; ++it)
          if (!sorted_has(affected_, it->second)) more.insert(it->second);
    if (virt_map) {
      const OwnerIndex* published = load_owners(*virt_map->config, why);
      if (!published || !propagating(affected_, dir_, *virt_map->config, *published, *virt_map, impl_->graph, g, more, why))
        return false;
    }
    // Everything that leads to them, at once: a level a round would read everything again.
    OwnerSet seeds;
    for (OwnerCode c : more) {
      if (!affected.count(c)) seeds.insert(c);
      GraphIndex::each(g.up, c, [&](OwnerCode p) { seeds.insert(p); });
    }
    const std::size_t had = affected.size();
    closure(seeds, affected, [&](OwnerCode c, auto add) { GraphIndex::each(g.up, c, add); });
    if (affected.size() == had) break;
    if (round == kMaxRounds) {
      why = "the change reaches further than " + std::to_string(kMaxRounds) + " rounds of re-rendering";
      return false;
    }
  }
  return settle(old_graph, findings, why);
}

// Compares every map with the published one, hands on the warnings and makes the graph
// after the change.
bool IncrementalBuild::settle(const AliasGraph& old_graph, Findings& findings, std::string& why) {
  // Order of the config, as a full build stages them.
  std::stable_sort(maps_.begin(), maps_.end(), [&](const IncrementalMap& a, const IncrementalMap& b) {
    return a.config - cfg_.maps.maps.data() < b.config - cfg_.maps.maps.data();
  });
  for (IncrementalMap& m : maps_) {
    const MapState* ms = old_.find(m.config->name);
    if (!ms || !load_owners(*m.config, why) || !compare(m, *ms, why)) return false;
  }
  for (const Finding& f : impl_->findings.all()) findings.warning(f.map, f.message);

  // The graph after the change: the published edges of every owner not rendered again,
  // the new edges of those that were.
  for (const auto& e : old_graph.edges)
    if (!sorted_has(affected_, e.first)) graph_.edges.push_back(e);
  for (const auto& e : old_graph.unresolved)
    if (!sorted_has(affected_, e.first)) graph_.unresolved.push_back(e);
  for (const auto& e : impl_->graph.edges)
    if (sorted_has(affected_, e.first)) graph_.edges.push_back(e);
  for (const auto& e : impl_->graph.unresolved)
    if (sorted_has(affected_, e.first)) graph_.unresolved.push_back(e);
  graph_.normalize();
  return true;
}

bool IncrementalBuild::compare(IncrementalMap& m, const MapState& ms, std::string& why) const {
  std::vector<std::pair<std::string, std::string>> old_mine;
  if (!published_lines(dir_, *m.config, m.alias_syntax, published_owners(*m.config), affected_, why,
                       [&](OwnerCode, std::string_view k, std::string_view v) { old_mine.emplace_back(k, v); }))
    return false;
  // A new key must not be another owner's: ask the published map itself.
  std::unique_ptr<MapReader> published;
  for (std::size_t j = 0, a = 0; j < m.fresh.size(); ++j) {
    const std::string_view k = m.fresh[j].key;
    while (a < old_mine.size() && old_mine[a].first < k) ++a;
    if (a < old_mine.size() && old_mine[a].first == k) continue;  // an affected owner's key: replaced
    if (!published) published = map_type_of(*m.config).open(dir_ + "/" + m.config->spec.indexed_file, m.alias_syntax);
    const LookupResult r = published->lookup(k);
    if (r.status == LookupStatus::retry) fail(Exit::tempfail, m.config->name + ": " + r.error);
    if (r.status == LookupStatus::found) {
      why = m.config->name + ": key \"" + std::string(k) + "\" of " + owner_text(m.fresh_owners[j]) + " is published already for another row";
      return false;
    }
  }
  MapDelta& d = m.delta;
  d.old_entries = ms.entries;
  std::size_t a = 0, b = 0;
  while (a < old_mine.size() || b < m.fresh.size()) {
    if (b == m.fresh.size() || (a < old_mine.size() && old_mine[a].first < m.fresh[b].key)) {
      ++d.removed;
      d.changes.emplace_back(old_mine[a++].first, std::string());
    } else if (a == old_mine.size() || m.fresh[b].key < old_mine[a].first) {
      ++d.added;
      d.changes.emplace_back(std::string(m.fresh[b].key), std::string(m.fresh[b].value));
      ++b;
    } else {
      if (old_mine[a].second != m.fresh[b].value) {
        ++d.changed;
        d.changes.emplace_back(std::string(m.fresh[b].key), std::string(m.fresh[b].value));
      }
      ++a;
      ++b;
    }
  }
  d.new_entries = d.old_entries + d.added - d.removed;
  return true;
}

const OwnerIndex* IncrementalBuild::load_owners(const MapConfig& mc, std::string& why) {
  if (auto it = owners_.find(mc.name); it != owners_.end()) return &it->second;
  const MapState* ms = old_.find(mc.name);
  OwnerIndex index;
  if (!ms) why = "map " + mc.name + " was not published before";
  if (!ms || !read_owners(dir_, mc.name, ms->digest, ms->entries, index, why)) return nullptr;
  return &owners_.emplace(mc.name, std::move(index)).first->second;
}

const OwnerIndex& IncrementalBuild::published_owners(const MapConfig& mc) const {
  const auto it = owners_.find(mc.name);
  if (it == owners_.end()) fail(Exit::software, "map " + mc.name + ": its owner index was not read before it was needed");
  return it->second;
}

}  // namespace mapsync
