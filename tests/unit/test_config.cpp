// Config errors name the file, the line and the key, and carry exit status 78.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "libmapsync/config/config.h"
#include "tests/unit/config_error.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/secret.h"

using namespace mapsync;

namespace {

const char* kGood = R"(database:
  host: 127.0.0.1
  port: 3306
  user: mapsync
  password_file: /etc/mapsync/db.password
  database: mailusers
maps:
  directory: /var/lib/mapsync/maps
  default_type: btree
  aliases:
    type: hash
    mode: "0640"
  canonical:
    enabled: false
)";


std::string with(const std::string& from, const std::string& to) {
  std::string s = kGood;
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("a good config gives defaults and per-map settings") {
  const Config c = parse_config(kGood, "test.yaml");
  CHECK(c.database.port == 3306);
  CHECK(c.database.tls_mode == TlsMode::preferred);
  CHECK(c.maps.directory == "/var/lib/mapsync/maps");
  REQUIRE(c.maps.find("aliases"));
  CHECK(c.maps.find("aliases")->type == "hash");
  CHECK(c.maps.find("aliases")->mode == 0640);
  CHECK(c.maps.find("virtual")->type == "btree");
  CHECK(c.maps.find("virtual")->mode == 0644);
  CHECK(c.maps.find("virtual")->file == "virtual");
  CHECK_FALSE(c.maps.find("canonical")->enabled);
  CHECK(c.maps.maps.size() == known_map_names().size());
  CHECK(c.render.local_alias_domain == "localhost");
  CHECK(c.logging.level == LogLevel::info);
}

TEST_CASE("config errors name file, line and key") {
  CHECK(config_error(with("  port: 3306", "  prot: 3306")) == "test.yaml:3: database.prot: unknown key");
  CHECK(config_error(with("  port: 3306", "  port: 70000")).find("test.yaml:3: database.port: must be a whole number from 1 to 65535") == 0);
  CHECK(config_error(with("  user: mapsync\n", "")).find("database.user: required key is missing") != std::string::npos);
  CHECK(config_error(with("  default_type: btree", "  default_type: gdbm")) ==
        "test.yaml:9: maps.default_type: unknown map type \"gdbm\" (known: hash, btree, lmdb, cdb)");
  CHECK(config_error(with("    mode: \"0640\"", "    mode: \"0666\"")).find("test.yaml:12: maps.aliases.mode: a map writable by group or others") == 0);
  CHECK(config_error(with("    mode: \"0640\"", "    mode: rw")).find("maps.aliases.mode: must be an octal file mode") != std::string::npos);
  CHECK(config_error(with("  canonical:", "  canonicle:")).find("test.yaml:13: maps.canonicle: unknown key") == 0);
  CHECK(config_error(with("  directory: /var/lib/mapsync/maps", "  directory: maps")) ==
        "test.yaml:8: maps.directory: must be an absolute path");
  CHECK(config_error(with("    type: hash", "    type: hash\n    owner: no-such-user-here")).find("maps.aliases.owner: no such user") != std::string::npos);
  CHECK(config_error("database: [1, 2\n").find("test.yaml:") == 0);  // YAML syntax error, with a line
  CHECK(config_error(std::string(kGood) + "render:\n  canonical:\n    key: \"{login}@{domain}\"\n").find("unknown placeholder") != std::string::npos);
  CHECK(config_error(with("  host: 127.0.0.1", "  host: 127.0.0.1\n  socket: /run/mysqld/mysqld.sock")).find("set either host or socket") != std::string::npos);
}

TEST_CASE("a key given twice is refused, not read as its first copy") {
  CHECK(config_error(with("  port: 3306", "  port: 3306\n  user: other")) ==
        "test.yaml:5: database.user: key given twice (first on line 4)");
  CHECK(config_error(std::string(kGood) + "maps:\n  directory: /tmp\n") ==
        "test.yaml:15: maps: key given twice (first on line 7)");
  CHECK(config_error(std::string(kGood) + "cyrus:\n  folders:\n    - {name: Sent, name: Junk}\n")
            .find("cyrus.folders[0].name: key given twice") != std::string::npos);
}

TEST_CASE("a missing config file is a config error") {
  CHECK_THROWS_WITH_AS(load_config("/nonexistent/mapsync.yaml"), doctest::Contains("/nonexistent/mapsync.yaml"), Error);
}

TEST_CASE("password files readable by group or others are refused") {
  char dir[] = "/tmp/mapsync-secret.XXXXXX";
  REQUIRE(mkdtemp(dir));
  const std::string path = std::string(dir) + "/pw";
  {
    std::ofstream(path) << "s3cret\nignored second line\n";
  }
  chmod(path.c_str(), 0600);
  CHECK(read_secret_file(path, "database.password_file") == "s3cret");
  chmod(path.c_str(), 0640);
  try {
    read_secret_file(path, "database.password_file");
    FAIL("a 0640 password file was accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Exit::config);
    CHECK(std::string(e.what()).find("permissions 0640") != std::string::npos);
    CHECK(std::string(e.what()).find("s3cret") == std::string::npos);
  }
  chmod(path.c_str(), 0604);
  CHECK_THROWS_AS(read_secret_file(path, "x"), Error);
  {
    std::ofstream(path, std::ios::trunc) << "\n";
  }
  chmod(path.c_str(), 0600);
  CHECK_THROWS_WITH_AS(read_secret_file(path, "x"), doctest::Contains("is empty"), Error);
  unlink(path.c_str());
  rmdir(dir);
}

TEST_CASE("the ad section: defaults, and mistakes named by file, line and key") {
  const std::string ad = std::string(kGood) + R"(ad:
  uris: [ldap://dc1.example.edu, ldap://dc2.example.edu]
  keytab: /etc/mapsync/adsync.keytab
  bases: OU=Staff,DC=example,DC=edu
  placement:
    - {name: staff, ou: "OU=Staff,DC=example,DC=edu", delivery: smtp, smtp_nexthop: "[exchange.example.edu]"}
    - {name: rest, delivery: cyrus, backends: [be1, be2]}
)";
  const Config c = parse_config(ad, "test.yaml");
  CHECK(c.ad.present);
  CHECK(c.ad.uris.size() == 2);
  CHECK(c.ad.bind == AdBind::gssapi);
  CHECK(c.ad.bases == std::vector<std::string>{"OU=Staff,DC=example,DC=edu"});
  CHECK(c.ad.disable_after_misses == 3);
  CHECK(c.ad.gates.max_disables_percent == 5);
  CHECK(c.ad.placement.size() == 2);
  CHECK(c.ad.placement[1].backends == std::vector<std::string>{"be1", "be2"});
  CHECK_FALSE(parse_config(kGood, "test.yaml").ad.present);

  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = ad;
    const auto at = t.find(from);
    REQUIRE(at != std::string::npos);
    return config_error(t.replace(at, from.size(), to));
  };
  CHECK(with("  keytab: /etc/mapsync/adsync.keytab\n", "") .find("ad.keytab: required with bind: gssapi") != std::string::npos);
  CHECK(with("  keytab: /etc/mapsync/adsync.keytab\n", "  bind: simple\n  bind_dn: CN=x\n  password_file: /p\n")
            .find("a simple bind sends the password: \"ldap://dc1.example.edu\" needs ldaps:// or starttls: true") != std::string::npos);
  CHECK(with("ldap://dc1.example.edu,", "http://dc1,").find("test.yaml:16: ad.uris: \"http://dc1\" is not an ldap://") == 0);
  CHECK(with("backends: [be1, be2]", "backends: []").find("delivery cyrus needs one or more back end names") != std::string::npos);
  CHECK(with("delivery: smtp,", "delivery: exchange,").find("must be cyrus, smtp or none") != std::string::npos);
  CHECK(with("  bases:", "  basse: x\n  bases:").find("ad.basse: unknown key") != std::string::npos);
}

TEST_CASE("the cyrus section: folders with special use, and mistakes named by key") {
  const std::string cy = std::string(kGood) + R"(cyrus:
  password_file: /etc/mapsync/cyrus.password
  acls: ["anyone p"]
  folders:
    - Archive
    - {name: Sent, special_use: "\\Sent"}
)";
  const Config c = parse_config(cy, "test.yaml");
  CHECK(c.cyrus.present);
  CHECK(c.cyrus.tls == ImapTls::starttls);
  CHECK(c.cyrus.via == CyrusVia::backend);
  REQUIRE(c.cyrus.folders.size() == 2);
  CHECK(c.cyrus.folders[0].special_use.empty());
  CHECK(c.cyrus.folders[1].special_use == "\\Sent");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = cy;
    const auto at = t.find(from);
    REQUIRE(at != std::string::npos);
    return config_error(t.replace(at, from.size(), to));
  };
  CHECK(with("  acls:", "  tls: none\n  acls:").find("set allow_plaintext: true to mean it") != std::string::npos);
  CHECK(with("\"\\\\Sent\"", "\"\\\\Bogus\"").find("not an RFC 6154 attribute") != std::string::npos);
  CHECK(with("[\"anyone p\"]", "[\"anyone\"]").find("must be IDENTIFIER RIGHTS") != std::string::npos);
  CHECK(with("  acls:", "  via: frontend\n  acls:").find("cyrus.frontend.host: required with via: frontend") != std::string::npos);
  CHECK(with("  acls:", "  placement: weights\n  acls:").find("required with placement: weights") != std::string::npos);
  CHECK(c.cyrus.auth == CyrusAuth::password);
  CHECK(with("  acls:", "  auth: kerberos\n  acls:").find("cyrus.auth: must be password or gssapi") != std::string::npos);
  CHECK(with("  acls:", "  auth: gssapi\n  acls:").find("cyrus.keytab: required key is missing") != std::string::npos);
  CHECK(with("  acls:", "  auth: gssapi\n  keytab: mboxsync.keytab\n  acls:").find("cyrus.keytab: must be an absolute path") !=
        std::string::npos);
  CHECK(config_error(std::string(kGood) + "cyrus:\n  password_file: /x\n  acls: [\"anyone p\"]\n")
            .empty());
  std::string gss = cy;
  const std::string pw_line = "  password_file: /etc/mapsync/cyrus.password\n";
  gss.replace(gss.find(pw_line), pw_line.size(),
              "  auth: gssapi\n  keytab: /etc/mapsync/cyrus.keytab\n  principal: cyrus@EXAMPLE.TEST\n");
  const Config g = parse_config(gss, "test.yaml");  // no password file needed
  CHECK(g.cyrus.auth == CyrusAuth::gssapi);
  CHECK(g.cyrus.keytab == "/etc/mapsync/cyrus.keytab");
  CHECK(g.cyrus.principal == "cyrus@EXAMPLE.TEST");
  CHECK(with("  password_file: /etc/mapsync/cyrus.password\n", "").find("cyrus.password_file: required key is missing") !=
        std::string::npos);
}

TEST_CASE("each map gets its kind and a resolved spec when the config loads") {
  const Config c = parse_config(kGood, "test.yaml");
  const MapConfig* aliases = c.maps.find(MapKind::aliases);
  REQUIRE(aliases);
  CHECK(aliases->name == "aliases");
  CHECK(aliases->spec.type == "hash");
  CHECK(aliases->spec.suffix == ".db");
  CHECK(aliases->spec.alias_syntax);
  CHECK(aliases->spec.text_path == "/var/lib/mapsync/maps/aliases");
  CHECK(aliases->spec.published_path == "/var/lib/mapsync/maps/aliases.db");
  const MapConfig* virt = c.maps.find("virtual");
  REQUIRE(virt);
  CHECK(virt->kind == MapKind::virtual_alias);
  CHECK(virt->spec.type == "btree");
  CHECK_FALSE(virt->spec.alias_syntax);
  CHECK(virt->spec.indexed_file == "virtual.db");
  for (const MapConfig& m : c.maps.maps) CHECK(m.spec.alias_syntax == (m.kind == MapKind::aliases));
}

TEST_CASE("render.list_companions: the default, a list of its own, [] for none, and a bad suffix") {
  CHECK(parse_config(kGood, "test.yaml").render.list_companions.size() == 8);
  const std::string own = std::string(kGood) + "render:\n  list_companions: [-request, -owner]\n";
  CHECK(parse_config(own, "test.yaml").render.list_companions == std::vector<std::string>{"-request", "-owner"});
  CHECK(parse_config(std::string(kGood) + "render:\n  list_companions: []\n", "test.yaml").render.list_companions.empty());
  CHECK(config_error(std::string(kGood) + "render:\n  list_companions: [\"-a@b\"]\n").find("render.list_companions") != std::string::npos);
}

TEST_CASE("a node that holds itself through an alias is a config error, not a stack overflow") {
  // Found by tests/fuzz (fuzz_config): the duplicate-key check followed the alias into
  // the node that holds it, recursing until the stack ran out (SIGSEGV instead of 78).
  const std::string self = config_error("database: &db\n  : *db\n");
  INFO(self);
  CHECK((self.empty() || self.rfind("test.yaml", 0) == 0));
  CHECK(config_error("maps: &m\n  directory: /var/lib/mapsync/maps\n  aliases: *m\n") != "");
}
