// gen_userdb - writes a synthetic campus e-mail user database for benchmarks.
//
//   gen_userdb --addresses N --out DIR [--seed S] [--alias-domain]
//
// Writes DIR/<table>.tsv for every table of schema/001_initial.sql and DIR/load.sql,
// which loads them with LOAD DATA LOCAL INFILE in foreign-key order and then checks the
// row counts (LOAD DATA LOCAL turns duplicate keys and CHECK failures into warnings and
// skips the row, so a count check is the only way to notice). Load it with the mariadb
// client: `mariadb --local-infile=1 mailusers < DIR/load.sql`.
//
// The campus: example.edu (local), lab.example.edu (relay), optionally alias.edu (alias
// of example.edu; off by default because it doubles every virtual key). N is the number
// of account addresses: primary addresses plus the addresses table (0-3 aliases per
// account). Accounts: ~85% students on four Cyrus back ends, ~12% staff delivered by smtp
// to [exchange.example.edu], ~2% forwards to external addresses, ~1% disabled. ~1% of the
// people have non-ASCII names and get a UTF-8 alias (Jörg.Müller123@example.edu) to
// exercise case folding. On top: group aliases (2 per 1,000 addresses, 5-50 members,
// nested only towards lower ids, so no cycles), 50 mailing lists, canonical rewrites
// (1 per 1,000 addresses), up to 100 transport overrides and a few system aliases.
//
// Every address is unique case-insensitively, also after Postfix's UTF-8 case folding:
// every account address ends in the account id, which no other account shares, and the
// patterns of one account differ in their letters (see alias_for()). Group, list and
// system addresses contain a '-' or no digits, which account addresses never do.
//
// The output depends only on N, the seed and --alias-domain: the generator uses its own
// PRNG (splitmix64) rather than <random>, whose distributions differ between libraries.

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- randomness

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); the modulo bias is below 2^-40 for our n.
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // True with probability p.
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

 private:
  std::uint64_t state_;
};

// ---------------------------------------------------------------- names

constexpr std::array kGiven = {
    "Anna",   "Ben",     "Clara",  "David",  "Emma",    "Felix",  "Greta",   "Hannah", "Ivan",
    "Julia",  "Karl",    "Laura",  "Max",    "Nina",    "Oscar",  "Paula",   "Quinn",  "Rosa",
    "Simon",  "Tara",    "Uwe",    "Vera",   "Walter",  "Xenia",  "Yusuf",   "Zoe",    "Adam",
    "Bianca", "Carlos",  "Diana",  "Elias",  "Fatima",  "Georg",  "Helena",  "Ingrid", "Jonas",
    "Katrin", "Lukas",   "Maria",  "Noah",   "Olga",    "Peter",  "Rita",    "Stefan", "Theo",
    "Ulrike", "Viktor",  "Wanda",  "Aisha",  "Bruno",   "Chen",   "Dmitri",  "Eva",    "Finn",
    "Grace",  "Hugo",    "Ida",    "Jakob",  "Kim",     "Leon",   "Mia",     "Nils",   "Omar",
    "Pia",    "Rafael",  "Sara",   "Tim",    "Ursula",  "Valentin", "William", "Yara",  "Alice",
    "Boris",  "Carmen",  "Daniel", "Elena",  "Frank",   "Gina",   "Henrik",  "Irene",  "Jan",
    "Klara",  "Liam",    "Marta",  "Nora",   "Otto",    "Priya",  "Ruth",    "Sven",   "Tanja",
    "Umar",   "Vincent", "Wei",    "Alexander", "Charlotte", "Sophia", "Matthias", "Johanna",
};
constexpr std::array kSurname = {
    "Smith",   "Meyer",    "Schmidt",  "Fischer",  "Weber",    "Wagner",  "Becker",   "Hoffmann",
    "Koch",    "Richter",  "Klein",    "Wolf",     "Neumann",  "Schwarz", "Zimmermann", "Braun",
    "Hofmann", "Hartmann", "Lange",    "Werner",   "Krause",   "Lehmann", "Kaiser",   "Fuchs",
    "Peters",  "Jansen",   "Nguyen",   "Garcia",   "Rossi",    "Kowalski", "Novak",   "Silva",
    "Jones",   "Brown",    "Taylor",   "Wilson",   "Evans",    "Thomas",  "Roberts",  "Walker",
    "Wright",  "Lopez",    "Martin",   "Bernard",  "Dubois",   "Moreau",  "Laurent",  "Simon",
    "Michel",  "Leroy",    "Bianchi",  "Romano",   "Colombo",  "Ricci",   "Costa",    "Petrov",
    "Ivanov",  "Horvat",   "Nielsen",  "Hansen",   "Larsen",   "Berg",    "Lindqvist", "Virtanen",
    "Kim",     "Park",     "Lee",      "Wang",     "Li",       "Zhang",   "Liu",      "Chen",
    "Yamamoto", "Tanaka",  "Sato",     "Khan",     "Ali",      "Hussain", "Singh",    "Patel",
    "Okafor",  "Mensah",   "Cohen",    "Levi",     "Murphy",   "Kelly",   "Walsh",    "Byrne",
    "Vogel",   "Sommer",   "Winter",   "Brandt",   "Haas",     "Graf",    "Seidel",   "Jung",
};
static_assert(kGiven.size() * kSurname.size() > 1000);

// Non-ASCII people: the native spelling and the ASCII transliteration used for the
// primary address. Every given name carries a non-ASCII letter other than ß, so that
// the folded native form (ß folds to "ss") never equals the folded transliteration.
struct NativeName {
  const char* native;
  const char* ascii;
};
constexpr std::array kNativeGiven = {
    NativeName{"Jörg", "Joerg"},     NativeName{"Jürgen", "Juergen"},
    NativeName{"Björn", "Bjoern"},   NativeName{"Sören", "Soeren"},
    NativeName{"Günther", "Guenther"}, NativeName{"Renée", "Renee"},
    NativeName{"José", "Jose"},      NativeName{"François", "Francois"},
    NativeName{"Zoë", "Zoe"},        NativeName{"Øystein", "Oystein"},
    NativeName{"Ásdís", "Asdis"},    NativeName{"Łukasz", "Lukasz"},
    NativeName{"Małgorzata", "Malgorzata"}, NativeName{"Çağla", "Cagla"},
    NativeName{"Ängla", "Aengla"},   NativeName{"Ümit", "Uemit"},
};
constexpr std::array kNativeSurname = {
    NativeName{"Müller", "Mueller"},   NativeName{"Schröder", "Schroeder"},
    NativeName{"Weiß", "Weiss"},       NativeName{"Strauß", "Strauss"},
    NativeName{"Großmann", "Grossmann"}, NativeName{"Nuñez", "Nunez"},
    NativeName{"García", "Garcia"},    NativeName{"Dvořák", "Dvorak"},
    NativeName{"Ødegaard", "Odegaard"}, NativeName{"Çelik", "Celik"},
    NativeName{"Ångström", "Angstrom"}, NativeName{"Łukasiewicz", "Lukasiewicz"},
    NativeName{"Köhler", "Koehler"},   NativeName{"Jäger", "Jaeger"},
    NativeName{"Lefèvre", "Lefevre"},  NativeName{"Sánchez", "Sanchez"},
};

constexpr std::array kDepartments = {
    "physics",  "chemistry", "biology",   "math",     "informatics", "history",  "philosophy",
    "law",      "medicine",  "economics", "geography", "geology",    "music",    "arts",
    "languages", "sociology", "psychology", "education", "sports",    "library",  "it",
    "finance",  "hr",        "facilities", "admissions", "research", "press",    "alumni",
    "astronomy", "linguistics", "theology", "pharmacy",  "dentistry", "nursing",  "engineering",
    "architecture", "agriculture", "veterinary", "statistics", "neuroscience",
};
constexpr std::array kGroupKinds = {
    "staff", "students", "faculty", "office", "board", "helpdesk", "committee", "council",
    "phd", "alumni-relations",
};
constexpr std::array kListWords = {
    "announce", "events",   "seminar",  "colloquium", "jobs",    "housing", "sports",
    "music",    "choir",    "orchestra", "film",      "chess",   "hiking",  "climbing",
    "sailing",  "robotics", "astronomy", "debate",    "theatre", "photo",   "students",
    "postdocs", "phd",      "alumni",   "library",    "it-news", "security", "research",
    "funding",  "grants",   "teaching", "elearning",  "press",   "senate",  "council",
    "welcome",  "exchange", "erasmus",  "career",     "mentoring", "diversity", "green",
    "bikes",    "cafeteria", "parking", "health",     "yoga",    "running", "football",
    "volunteers",
};
static_assert(kListWords.size() == 50);

constexpr std::array kExternalDomains = {"example.com", "example.net", "example.org",
                                         "mail.example.com", "partner.example.net"};

constexpr std::string_view kLocalDomain = "example.edu";
constexpr std::string_view kRelayDomain = "lab.example.edu";
constexpr std::string_view kAliasDomain = "alias.edu";
constexpr std::string_view kExchange = "[exchange.example.edu]";

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// ---------------------------------------------------------------- TSV output

// One table file in LOAD DATA's default format: tab-separated, '\n'-terminated,
// backslash escapes, \N for NULL. Buffered by hand: a million rows in well under a second.
class TsvWriter {
 public:
  TsvWriter(const fs::path& dir, std::string table, std::vector<std::string> columns)
      : table_(std::move(table)), columns_(std::move(columns)), path_(dir / (table_ + ".tsv")) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) throw std::runtime_error(path_.string() + ": " + std::strerror(errno));
    buf_.reserve(1 << 20);
  }
  TsvWriter(const TsvWriter&) = delete;
  TsvWriter& operator=(const TsvWriter&) = delete;
  ~TsvWriter() {
    if (file_) std::fclose(file_);
  }

  TsvWriter& field(std::string_view v) {
    sep();
    for (char c : v) {
      switch (c) {
        case '\\': buf_ += "\\\\"; break;
        case '\t': buf_ += "\\t"; break;
        case '\n': buf_ += "\\n"; break;
        case '\0': buf_ += "\\0"; break;
        default: buf_ += c;
      }
    }
    return *this;
  }
  TsvWriter& field(std::uint64_t v) {
    sep();
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, r.ptr);
    return *this;
  }
  TsvWriter& field(int v) { return field(static_cast<std::uint64_t>(v)); }
  TsvWriter& field(unsigned v) { return field(static_cast<std::uint64_t>(v)); }
  TsvWriter& field(bool v) { return field(std::string_view(v ? "1" : "0")); }
  TsvWriter& field(const char* v) { return field(std::string_view(v)); }
  TsvWriter& field(const std::string& v) { return field(std::string_view(v)); }
  TsvWriter& null() {
    sep();
    buf_ += "\\N";
    return *this;
  }
  void end_row() {
    buf_ += '\n';
    ++rows_;
    at_start_ = true;
    if (buf_.size() > (1 << 20) - 4096) flush();
  }
  void close() {
    flush();
    if (std::fclose(file_) != 0) {
      file_ = nullptr;
      throw std::runtime_error(path_.string() + ": " + std::strerror(errno));
    }
    file_ = nullptr;
  }

  const std::string& table() const { return table_; }
  const std::vector<std::string>& columns() const { return columns_; }
  const fs::path& path() const { return path_; }
  std::uint64_t rows() const { return rows_; }
  // Extra SET clause for the LOAD DATA statement (columns read into @variables).
  std::string set_clause;

 private:
  void sep() {
    if (!at_start_) buf_ += '\t';
    at_start_ = false;
  }
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size())
      throw std::runtime_error(path_.string() + ": " + std::strerror(errno));
    buf_.clear();
  }

  std::string table_;
  std::vector<std::string> columns_;
  fs::path path_;
  std::FILE* file_ = nullptr;
  std::string buf_;
  std::uint64_t rows_ = 0;
  bool at_start_ = true;
};

// ---------------------------------------------------------------- the campus

struct Options {
  std::uint64_t addresses = 1'000'000;
  fs::path out;
  std::uint64_t seed = 20240501;
  bool alias_domain = false;
};

enum class Kind { student, staff, forward, disabled };

struct Person {
  std::string given, surname;                // ASCII (transliterated when native)
  std::string native_given, native_surname;  // empty for ASCII people
};

// Everything the later tables need to know about the accounts.
struct AccountInfo {
  Kind kind;
  std::uint32_t alias_begin;  // index into alias_addresses
  std::uint8_t alias_count;
};

class Generator {
 public:
  explicit Generator(Options o) : opt_(std::move(o)), rng_(opt_.seed) {}

  void run();

 private:
  void domains_and_backends();
  void accounts();
  void groups();
  void lists_rewrites_transports_system();
  void write_load_sql();

  // Alias number `pattern` (0..4) of account id for person p; see patterns below.
  std::string alias_for(int pattern, std::uint32_t id, const std::string& uid, const Person& p);
  void remember(std::string_view address);
  std::uint32_t random_account() { return static_cast<std::uint32_t>(rng_.between(1, accounts_.size())); }

  TsvWriter& table(std::string name, std::vector<std::string> columns) {
    tables_.push_back(std::make_unique<TsvWriter>(opt_.out, std::move(name), std::move(columns)));
    return *tables_.back();
  }

  Options opt_;
  Rng rng_;
  std::vector<std::unique_ptr<TsvWriter>> tables_;  // in load (foreign-key) order
  std::vector<AccountInfo> accounts_;               // index = id - 1
  std::vector<std::string> primaries_;              // index = id - 1
  std::vector<std::string> alias_addresses_;
  std::unordered_set<std::string> seen_;  // every address, ASCII-lowercased: a self-check
  std::uint64_t non_ascii_accounts_ = 0;
};

void Generator::remember(std::string_view address) {
  if (!seen_.insert(lower_ascii(address)).second)
    throw std::logic_error("generator bug: duplicate address " + std::string(address));
}

// Alias patterns. Every one ends in the account id; their letter parts differ from each
// other and from the primary First.Last<id> even after case folding (given and surname
// lists share no name with each other where it matters: Last.First needs given != surname,
// which is checked by the caller).
//   0: uid@example.edu            e1000042@example.edu (not for Cyrus accounts, see accounts())
//   1: initial.surname<id>        J.Meyer42@example.edu
//   2: Surname.Given<id>          Meyer.Julia42@example.edu
//   3: given_surname<id>          julia_meyer42@example.edu
//   4: native Given.Surname<id>   Jörg.Müller42 / jörg.müller42 (non-ASCII people only)
std::string Generator::alias_for(int pattern, std::uint32_t id, const std::string& uid,
                                 const Person& p) {
  const std::string n = std::to_string(id);
  const std::string at = "@" + std::string(kLocalDomain);
  switch (pattern) {
    case 0: return uid + at;
    case 1: return p.given.substr(0, 1) + "." + p.surname + n + at;
    case 2: return p.surname + "." + p.given + n + at;
    case 3: return lower_ascii(p.given) + "_" + lower_ascii(p.surname) + n + at;
    default: {
      std::string local = p.native_given + "." + p.native_surname + n;
      // Half of them lower-case only in the ASCII letters, half as entered: both must
      // fold to the same key; the upper-case non-ASCII letters are what ICU folds.
      if (id % 2 == 0) local = lower_ascii(local);
      return local + at;
    }
  }
}

void Generator::domains_and_backends() {
  auto& d = table("domains", {"id", "name", "kind", "target_domain_id", "transport", "enabled", "note"});
  d.field(1).field(kLocalDomain).field("local").null().null().field(true).field("main campus domain").end_row();
  d.field(2).field(kRelayDomain).field("relay").null().field("smtp:[mx.lab.example.edu]").field(true)
      .field("research lab, own mail server").end_row();
  if (opt_.alias_domain)
    d.field(3).field(kAliasDomain).field("alias").field(1).null().field(true).field("old name").end_row();

  auto& b = table("backends", {"id", "name", "lmtp_host", "lmtp_port", "imap_host", "imap_port",
                               "partitions", "enabled"});
  for (int i = 1; i <= 4; ++i) {
    const std::string host = "10.0.0." + std::to_string(10 + i);
    b.field(i).field("be" + std::to_string(i)).field(host).field(24).field(host).field(143)
        .field("default,part2").field(true).end_row();
  }
}

void Generator::accounts() {
  auto& a = table("accounts", {"id", "uid", "@object_guid", "given_name", "surname", "display_name",
                               "primary_address", "status", "delivery", "backend_id",
                               "cyrus_partition", "smtp_nexthop", "quota_mb", "source"});
  a.set_clause = "object_guid = UNHEX(@object_guid)";
  auto& ad = table("addresses", {"id", "account_id", "address", "kind"});
  auto& fw = table("account_forwards", {"id", "account_id", "target"});

  std::uint64_t total = 0, address_id = 0, forward_id = 0;
  std::uint32_t id = 0;
  while (total < opt_.addresses) {
    ++id;
    // Kind: 85% student, 12% staff, 2% forward, 1% disabled.
    const auto r = rng_.below(100);
    const Kind kind = r < 85 ? Kind::student : r < 97 ? Kind::staff : r < 99 ? Kind::forward : Kind::disabled;

    Person p;
    const bool native = rng_.below(100) == 0;
    if (native) {
      const auto& g = kNativeGiven[rng_.below(kNativeGiven.size())];
      const auto& s = kNativeSurname[rng_.below(kNativeSurname.size())];
      p = {g.ascii, s.ascii, g.native, s.native};
      ++non_ascii_accounts_;
    } else {
      p.given = kGiven[rng_.below(kGiven.size())];
      p.surname = kSurname[rng_.below(kSurname.size())];
    }

    // uid: students s + 7 digits, everybody else e + 7 digits; unique by id.
    const std::string uid = std::string(kind == Kind::staff ? "e" : "s") + std::to_string(1'000'000 + id);
    std::string primary = p.given + "." + p.surname + std::to_string(id) + "@" + std::string(kLocalDomain);
    remember(primary);
    ++total;

    // 0-3 aliases: 35% none, 35% one, 20% two, 10% three; never past N.
    const auto ra = rng_.below(100);
    std::uint64_t want = ra < 35 ? 0 : ra < 70 ? 1 : ra < 90 ? 2 : 3;
    if (native && want == 0) want = 1;  // the UTF-8 alias is the point of these people
    want = std::min<std::uint64_t>(want, opt_.addresses - total);

    // Pick distinct patterns: the native one first for non-ASCII people, then from 0-3.
    // uid@example.edu only for accounts not on Cyrus: for a Cyrus account mapsync itself
    // accepts uid@<primary domain> (the login address Cyrus delivers to), so the row would
    // define it twice.
    const bool on_cyrus = kind == Kind::student || kind == Kind::disabled;
    std::array<int, 4> patterns{0, 1, 2, 3};
    for (std::size_t i = patterns.size() - 1; i > 0; --i)
      std::swap(patterns[i], patterns[rng_.below(i + 1)]);
    std::vector<int> chosen;
    if (native && want > 0) chosen.push_back(4);
    for (int pat : patterns) {
      if (chosen.size() >= want) break;
      if (pat == 0 && on_cyrus) continue;
      if (pat == 2 && p.given == p.surname) continue;  // Last.First would equal First.Last
      chosen.push_back(pat);
    }

    const bool ad_source = kind == Kind::staff;
    accounts_.push_back({kind, static_cast<std::uint32_t>(alias_addresses_.size()),
                         static_cast<std::uint8_t>(chosen.size())});
    for (int pat : chosen) {
      std::string addr = alias_for(pat, id, uid, p);
      remember(addr);
      ad.field(++address_id).field(id).field(addr).field(ad_source ? "proxy" : "alias").end_row();
      alias_addresses_.push_back(std::move(addr));
      ++total;
    }

    const std::string& given = native ? p.native_given : p.given;
    const std::string& surname = native ? p.native_surname : p.surname;
    a.field(id).field(uid);
    if (ad_source) {
      char hex[33];
      std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(rng_.next()),
                    static_cast<unsigned long long>(rng_.next()));
      a.field(std::string_view(hex, 32));
    } else {
      a.null();
    }
    a.field(given).field(surname).field(given + " " + surname).field(primary);
    a.field(kind == Kind::disabled ? "disabled" : "active");
    switch (kind) {
      case Kind::student:
      case Kind::disabled:  // a former student: mailbox still on its back end
        a.field("cyrus").field(rng_.between(1, 4)).field(rng_.chance(0.8) ? "default" : "part2").null()
            .field(kind == Kind::student ? 2048 : 512);
        break;
      case Kind::staff:
        a.field("smtp").null().null().field(kExchange).null();
        break;
      case Kind::forward:
        a.field("forward").null().null().null().null();
        break;
    }
    a.field(ad_source ? "ad" : "manual").end_row();

    if (kind == Kind::forward) {
      const int targets = rng_.chance(0.8) ? 1 : 2;
      for (int t = 0; t < targets; ++t) {
        const std::string target = lower_ascii(p.given) + "." + lower_ascii(p.surname) + std::to_string(id) +
                                   "@" + kExternalDomains[(id + t) % kExternalDomains.size()];
        fw.field(++forward_id).field(id).field(target).end_row();
      }
    }
    primaries_.push_back(std::move(primary));
  }
}

void Generator::groups() {
  auto& g = table("group_aliases", {"id", "address", "description", "enabled"});
  auto& m = table("group_members", {"id", "group_id", "member_account_id", "member_group_id", "member_address"});

  // 2 groups per 1,000 addresses (2,000 for a million), at least 3.
  const std::uint64_t count = std::max<std::uint64_t>(3, opt_.addresses * 2 / 1000);
  const std::uint64_t naccounts = accounts_.size();
  std::uint64_t member_id = 0;
  std::vector<std::uint32_t> picked;

  for (std::uint64_t gid = 1; gid <= count; ++gid) {
    std::string local;
    if (gid == 1) {
      local = "mail-admins";  // target of the root system alias
    } else {
      const std::uint64_t i = gid - 2;
      const std::uint64_t combos = kDepartments.size() * kGroupKinds.size();
      local = std::string(kDepartments[i % kDepartments.size()]) + "-" +
              kGroupKinds[(i / kDepartments.size()) % kGroupKinds.size()];
      if (i >= combos) local += std::to_string(i / combos + 1);
    }
    const std::string address = local + "@" + std::string(kLocalDomain);
    remember(address);
    // A few groups are switched off (2%).
    g.field(gid).field(address).field("group " + local).field(!rng_.chance(0.02)).end_row();

    const std::uint64_t members = std::min<std::uint64_t>(gid == 1 ? 3 : rng_.between(5, 50), naccounts);
    std::uint64_t external = rng_.chance(0.10) ? rng_.between(1, 2) : 0;
    // Nested: 5% of the groups (from the 11th on) contain 1-3 groups of lower id: no cycles.
    std::uint64_t nested = (gid > 10 && rng_.chance(0.05)) ? rng_.between(1, 3) : 0;
    external = std::min(external, members / 2);
    nested = std::min(nested, members / 2);
    const std::uint64_t account_members = members - external - nested;

    picked.clear();
    while (picked.size() < account_members) {
      const std::uint32_t acc = random_account();
      if (std::find(picked.begin(), picked.end(), acc) == picked.end()) picked.push_back(acc);
    }
    for (std::uint32_t acc : picked) m.field(++member_id).field(gid).field(acc).null().null().end_row();

    picked.clear();
    while (picked.size() < nested) {
      const auto sub = static_cast<std::uint32_t>(rng_.between(2, gid - 1));
      if (std::find(picked.begin(), picked.end(), sub) == picked.end()) picked.push_back(sub);
    }
    for (std::uint32_t sub : picked) m.field(++member_id).field(gid).null().field(sub).null().end_row();

    for (std::uint64_t e = 0; e < external; ++e) {
      const std::string addr = "partner" + std::to_string(gid) + "-" + std::to_string(e) + "@" +
                               kExternalDomains[(gid + e) % kExternalDomains.size()];
      m.field(++member_id).field(gid).null().null().field(addr).end_row();
    }
  }
}

void Generator::lists_rewrites_transports_system() {
  // Mailing lists: half handed to mailman3 over LMTP, half piped by local(8).
  auto& l = table("mailing_lists", {"id", "address", "manager", "transport", "local_name", "pipe_command", "enabled"});
  for (std::size_t i = 0; i < kListWords.size(); ++i) {
    const std::string local = std::string(kListWords[i]) + "-list";
    const std::string address = local + "@" + std::string(kLocalDomain);
    remember(address);
    l.field(i + 1).field(address);
    if (i % 2 == 0)
      l.field("transport").field("lmtp:[lists.example.edu]:8024").null().null();
    else
      l.field("pipe").null().field(local).field("|/usr/lib/mailman/mail/mailman post " + std::string(kListWords[i]));
    l.field(i != 7).end_row();  // one list switched off
  }

  // Canonical rewrites: 1 per 1,000 addresses (1,000 for a million): an alias that its
  // owner wants as sender address rewritten to the primary address. Sources are aliases of
  // patterns 1-4 (never uid@, which mapsync's generated canonical entries use), one per
  // account.
  auto& c = table("canonical_rewrites", {"id", "source", "target", "enabled", "note"});
  const std::uint64_t want_canonical = std::max<std::uint64_t>(1, opt_.addresses / 1000);
  std::unordered_set<std::uint32_t> used;
  std::uint64_t cid = 0, tries = 0;
  while (cid < want_canonical && tries++ < want_canonical * 100) {
    const std::uint32_t acc = random_account();
    const AccountInfo& info = accounts_[acc - 1];
    if (info.kind == Kind::disabled || info.alias_count == 0 || used.count(acc)) continue;
    const std::string& src = alias_addresses_[info.alias_begin + rng_.below(info.alias_count)];
    const std::string uid_prefix = std::string(info.kind == Kind::staff ? "e" : "s") + std::to_string(1'000'000 + acc) + "@";
    if (src.starts_with(uid_prefix)) continue;
    used.insert(acc);
    c.field(++cid).field(src).field(primaries_[acc - 1]).field(!rng_.chance(0.05)).field("sender rewrite on request")
        .end_row();
  }

  // Transport overrides: up to 95 students moved to a fifth back end ahead of the directory
  // change, a few gone accounts rejected, and 5 sub-domains with their own relay.
  auto& t = table("transport_overrides", {"id", "pattern", "transport", "enabled", "note"});
  std::uint64_t tid = 0;
  const std::uint64_t want_addr = std::min<std::uint64_t>(95, accounts_.size() / 4);
  used.clear();
  tries = 0;
  while (tid < want_addr && tries++ < want_addr * 100) {
    const std::uint32_t acc = random_account();
    if (accounts_[acc - 1].kind != Kind::student || !used.insert(acc).second) continue;
    ++tid;
    if (tid % 10 == 0)
      t.field(tid).field(primaries_[acc - 1]).field("error:5.1.1 mailbox moved").field(true).field("gone").end_row();
    else
      t.field(tid).field(primaries_[acc - 1]).field("lmtp:[10.0.0.15]:24").field(true).field("migration to be5").end_row();
  }
  for (int i = 1; i <= 5; ++i) {
    const std::string dom = "dept" + std::to_string(i) + "." + std::string(kLocalDomain);
    t.field(++tid).field(dom).field("smtp:[mx." + dom + "]").field(true).field("department relay").end_row();
  }

  // System aliases: the RFC 5321 ones accepted at every domain, the rest local only.
  auto& s = table("system_aliases", {"id", "name", "targets", "all_domains"});
  struct Sys { const char* name; const char* targets; bool all; };
  constexpr std::array kSystem = {
      Sys{"postmaster", "root", true},
      Sys{"abuse", "root", true},
      Sys{"root", "mail-admins@example.edu", false},
      Sys{"hostmaster", "root", false},
      Sys{"mailer-daemon", "postmaster", false},
      Sys{"security", "root, abuse", false},
      Sys{"nobody", "/dev/null", false},
  };
  std::uint64_t sid = 0;
  for (const auto& e : kSystem) s.field(++sid).field(e.name).field(e.targets).field(e.all).end_row();
}

// SQL string literal for a path (LOAD DATA takes no placeholders).
std::string sql_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

void Generator::write_load_sql() {
  const fs::path path = opt_.out / "load.sql";
  std::string sql;
  sql += "-- Written by gen_userdb (addresses=" + std::to_string(opt_.addresses) +
         ", seed=" + std::to_string(opt_.seed) + (opt_.alias_domain ? ", alias-domain" : "") +
         "). Load with: mariadb --local-infile=1 mailusers < load.sql\n"
         "-- The schema's change_serial triggers fire once per row.\n"
         "SET NAMES utf8mb4;\n"
         "SET foreign_key_checks = 0;\n";
  for (const auto& t : tables_) {
    std::string cols;
    for (const auto& c : t->columns()) cols += (cols.empty() ? "" : ", ") + c;
    sql += "LOAD DATA LOCAL INFILE " + sql_quote(t->path().string()) + " INTO TABLE " + t->table() +
           " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (" +
           cols + ")" + (t->set_clause.empty() ? "" : " SET " + t->set_clause) + ";\n";
  }
  sql += "SET foreign_key_checks = 1;\n";
  // LOAD DATA LOCAL skips rows that violate a unique key or a CHECK with only a warning:
  // fail loudly when a table did not get every row.
  sql += "DELIMITER //\nBEGIN NOT ATOMIC\n";
  for (const auto& t : tables_) {
    const std::string n = std::to_string(t->rows());
    sql += "  IF (SELECT COUNT(*) FROM " + t->table() + ") <> " + n +
           " THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'gen_userdb load: " + t->table() +
           " does not have " + n + " rows (skipped duplicates or CHECK failures?)'; END IF;\n";
  }
  sql += "END //\nDELIMITER ;\n";

  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error(path.string() + ": " + std::strerror(errno));
  const bool ok = std::fwrite(sql.data(), 1, sql.size(), f) == sql.size();
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error(path.string() + ": " + std::strerror(errno));
}

void Generator::run() {
  domains_and_backends();
  accounts();
  groups();
  lists_rewrites_transports_system();
  for (auto& t : tables_) t->close();
  write_load_sql();

  std::printf("gen_userdb: %llu addresses (%zu accounts, %zu aliases, %llu with non-ASCII names), seed %llu\n",
              static_cast<unsigned long long>(opt_.addresses), accounts_.size(), alias_addresses_.size(),
              static_cast<unsigned long long>(non_ascii_accounts_), static_cast<unsigned long long>(opt_.seed));
  for (const auto& t : tables_)
    std::printf("  %-20s %10llu rows\n", t->table().c_str(), static_cast<unsigned long long>(t->rows()));
  std::printf("  load with: mariadb --local-infile=1 mailusers < %s\n", (opt_.out / "load.sql").c_str());
}

// ---------------------------------------------------------------- command line

[[noreturn]] void usage(const char* msg) {
  if (msg) std::fprintf(stderr, "gen_userdb: %s\n", msg);
  std::fprintf(stderr, "usage: gen_userdb [--addresses N] --out DIR [--seed S] [--alias-domain]\n");
  std::exit(2);
}

std::uint64_t parse_number(std::string_view opt, std::string_view v) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) usage((std::string(opt) + ": not a number: " + std::string(v)).c_str());
  return n;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage((std::string(a) + ": missing value").c_str());
      return argv[++i];
    };
    if (a == "--addresses" || a == "-n") o.addresses = parse_number(a, value());
    else if (a == "--out" || a == "-o") o.out = value();
    else if (a == "--seed") o.seed = parse_number(a, value());
    else if (a == "--alias-domain") o.alias_domain = true;
    else if (a == "--help" || a == "-h") usage(nullptr);
    else usage(("unknown argument: " + std::string(a)).c_str());
  }
  if (o.out.empty()) usage("--out DIR is required");
  if (o.addresses < 100) usage("--addresses: at least 100");
  if (o.addresses > 50'000'000) usage("--addresses: at most 50,000,000");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_args(argc, argv);
  try {
    fs::create_directories(opt.out);
    opt.out = fs::absolute(opt.out).lexically_normal();
    Generator(std::move(opt)).run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gen_userdb: %s\n", e.what());
    return 1;
  }
  return 0;
}
