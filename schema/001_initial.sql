-- 001_initial: the e-mail user database.
--
-- Who holds what:
--   domains          local domains (we host mailboxes), alias domains (every address of the
--                    target domain exists here too), relay domains (we accept and pass on).
--   backends         Cyrus IMAP back ends: where LMTP delivers, where IMAP lives.
--   accounts         one row per person or role account; delivery says where its mail goes.
--   addresses        further addresses of an account (aliases, AD proxyAddresses).
--   account_forwards targets of an account whose delivery is 'forward'.
--   group_aliases /  an address expanding to members: accounts, external addresses,
--   group_members    other groups.
--   mailing_lists    a list address handed to a list manager (transport or local pipe).
--   canonical_rewrites explicit sender rewrites (the generated form is configured in mapsync.yaml).
--   transport_overrides per-domain or per-address next hop that replaces the computed one.
--   system_aliases   local aliases (postmaster, root, abuse, ...), optionally accepted
--                    as name@ every local domain.
--   change_serial    one row; every change to any table above bumps it (triggers below).
--
-- Conventions: InnoDB so that one consistent snapshot covers all tables; utf8mb4 so that
-- SMTPUTF8 addresses and names survive. Addresses are stored as entered; mapsync folds
-- case when it builds maps, and uniqueness here is case-insensitive through the
-- utf8mb4 collation, which is close to (not exactly) Postfix's folding: mapsync checks
-- again after folding.
--
-- Statements end with ';' at the end of a line: mapsync migrate splits on that.

CREATE TABLE schema_version (
  version     INT UNSIGNED NOT NULL PRIMARY KEY,
  name        VARCHAR(200) NOT NULL,
  applied_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE change_serial (
  id          TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  serial      BIGINT UNSIGNED NOT NULL,
  changed_at  TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  CONSTRAINT change_serial_one_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO change_serial (id, serial) VALUES (1, 1);

CREATE TABLE domains (
  id             INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name           VARCHAR(253) NOT NULL,
  kind           ENUM('local','alias','relay') NOT NULL,
  -- alias domains: the local domain whose addresses this one mirrors
  target_domain_id INT UNSIGNED NULL,
  -- relay domains: where to pass mail on, as a Postfix transport value (smtp:[mx.dept.example.edu])
  transport      VARCHAR(255) NULL,
  enabled        BOOLEAN NOT NULL DEFAULT TRUE,
  note           VARCHAR(255) NULL,
  created_at     TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at     TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY domains_name (name),
  CONSTRAINT domains_target FOREIGN KEY (target_domain_id) REFERENCES domains (id),
  CONSTRAINT domains_alias_has_target CHECK ((kind = 'alias') = (target_domain_id IS NOT NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE backends (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name        VARCHAR(64) NOT NULL,
  -- host that Postfix's lmtp client connects to, and its port
  lmtp_host   VARCHAR(253) NOT NULL,
  lmtp_port   SMALLINT UNSIGNED NOT NULL DEFAULT 24,
  imap_host   VARCHAR(253) NOT NULL,
  imap_port   SMALLINT UNSIGNED NOT NULL DEFAULT 143,
  -- Cyrus partitions on this back end, comma separated (default,part2)
  partitions  VARCHAR(255) NOT NULL DEFAULT 'default',
  enabled     BOOLEAN NOT NULL DEFAULT TRUE,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY backends_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE accounts (
  id              INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  uid             VARCHAR(64) NOT NULL,
  object_guid     BINARY(16) NULL,
  given_name      VARCHAR(128) NULL,
  surname         VARCHAR(128) NULL,
  display_name    VARCHAR(256) NULL,
  primary_address VARCHAR(320) NOT NULL,
  status          ENUM('active','disabled','pending-delete') NOT NULL DEFAULT 'active',
  delivery        ENUM('cyrus','smtp','forward','none') NOT NULL,
  backend_id      INT UNSIGNED NULL,
  cyrus_partition VARCHAR(64) NULL,
  -- delivery 'smtp': next hop in Postfix syntax, e.g. [exchange.example.edu] or [exchange.example.edu]:25
  smtp_nexthop    VARCHAR(255) NULL,
  quota_mb        INT UNSIGNED NULL,
  source          ENUM('ad','manual') NOT NULL DEFAULT 'manual',
  created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  provisioned_at  TIMESTAMP NULL,
  status_changed_at TIMESTAMP NULL,
  UNIQUE KEY accounts_uid (uid),
  UNIQUE KEY accounts_object_guid (object_guid),
  UNIQUE KEY accounts_primary_address (primary_address),
  KEY accounts_backend (backend_id),
  CONSTRAINT accounts_backend FOREIGN KEY (backend_id) REFERENCES backends (id),
  CONSTRAINT accounts_cyrus_has_backend CHECK (delivery <> 'cyrus' OR backend_id IS NOT NULL),
  CONSTRAINT accounts_smtp_has_nexthop CHECK (delivery <> 'smtp' OR smtp_nexthop IS NOT NULL)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE addresses (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account_id  INT UNSIGNED NOT NULL,
  address     VARCHAR(320) NOT NULL,
  kind        ENUM('alias','proxy') NOT NULL DEFAULT 'alias',
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY addresses_address (address),
  KEY addresses_account (account_id),
  CONSTRAINT addresses_account FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE account_forwards (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account_id  INT UNSIGNED NOT NULL,
  target      VARCHAR(320) NOT NULL,
  UNIQUE KEY account_forwards_target (account_id, target),
  CONSTRAINT account_forwards_account FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE group_aliases (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  address     VARCHAR(320) NOT NULL,
  description VARCHAR(255) NULL,
  enabled     BOOLEAN NOT NULL DEFAULT TRUE,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY group_aliases_address (address)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- exactly one of member_account_id, member_group_id, member_address per row
CREATE TABLE group_members (
  id                INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  group_id          INT UNSIGNED NOT NULL,
  member_account_id INT UNSIGNED NULL,
  member_group_id   INT UNSIGNED NULL,
  member_address    VARCHAR(320) NULL,
  KEY group_members_group (group_id),
  CONSTRAINT group_members_group FOREIGN KEY (group_id) REFERENCES group_aliases (id) ON DELETE CASCADE,
  CONSTRAINT group_members_account FOREIGN KEY (member_account_id) REFERENCES accounts (id) ON DELETE CASCADE,
  CONSTRAINT group_members_subgroup FOREIGN KEY (member_group_id) REFERENCES group_aliases (id) ON DELETE CASCADE,
  CONSTRAINT group_members_one_kind CHECK (
    (member_account_id IS NOT NULL) + (member_group_id IS NOT NULL) + (member_address IS NOT NULL) = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- manager 'transport': mail for the list goes to a transport (mailman3 lmtp:[lists]:8024, smtp:[lists.example.edu]).
-- manager 'pipe': the list address is rewritten to local_name@<local alias domain> and the
-- aliases map pipes it to pipe_command.
CREATE TABLE mailing_lists (
  id            INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  address       VARCHAR(320) NOT NULL,
  manager       ENUM('transport','pipe') NOT NULL,
  transport     VARCHAR(255) NULL,
  local_name    VARCHAR(64) NULL,
  pipe_command  VARCHAR(1000) NULL,
  enabled       BOOLEAN NOT NULL DEFAULT TRUE,
  created_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY mailing_lists_address (address),
  CONSTRAINT mailing_lists_manager_fields CHECK (
    (manager = 'transport' AND transport IS NOT NULL) OR
    (manager = 'pipe' AND local_name IS NOT NULL AND pipe_command IS NOT NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE canonical_rewrites (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  source      VARCHAR(320) NOT NULL,
  target      VARCHAR(320) NOT NULL,
  enabled     BOOLEAN NOT NULL DEFAULT TRUE,
  note        VARCHAR(255) NULL,
  UNIQUE KEY canonical_rewrites_source (source)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- pattern: a domain (example.edu) or an address (jdoe@example.edu); transport: Postfix
-- transport(5) value (smtp:[host]:port, lmtp:[host]:24, error:5.1.1 gone, discard:)
CREATE TABLE transport_overrides (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  pattern     VARCHAR(320) NOT NULL,
  transport   VARCHAR(255) NOT NULL,
  enabled     BOOLEAN NOT NULL DEFAULT TRUE,
  note        VARCHAR(255) NULL,
  UNIQUE KEY transport_overrides_pattern (pattern)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- targets: comma-separated aliases(5) right-hand side (addresses, local names, "|command", /file)
CREATE TABLE system_aliases (
  id            INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name          VARCHAR(64) NOT NULL,
  targets       VARCHAR(1000) NOT NULL,
  -- also accept name@ every local and alias domain (RFC 5321 wants postmaster@ each)
  all_domains   BOOLEAN NOT NULL DEFAULT FALSE,
  UNIQUE KEY system_aliases_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
