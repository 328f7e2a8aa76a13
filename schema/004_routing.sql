-- 004_routing: what a campus routes beyond "one mailbox per person", and the admin log.
--
--   delivery_targets   a named next hop for accounts delivered by SMTP (Exchange, a cloud
--                      tenant). With a routing_domain, every address of such an account is
--                      rewritten (virtual) to its routing address, address_template filled
--                      in ({uid}, {primary_local}, {given}, {surname}; {domain} is the
--                      routing domain), and the routing domain is routed (transport) to
--                      the target's transport. Without one, the account's primary address
--                      is handed to the transport, as smtp_nexthop always did.
--   accounts.delivery_target_id   the target of an 'smtp' account (instead of smtp_nexthop).
--   accounts.routing_address      replaces the template's address for this one account.
--   accounts.keep_copy            'forward' that also delivers to the account's own Cyrus
--                                 mailbox (backend_id): "deliver to mailbox too".
--   domains.kind 'list'  a domain served wholly by a list server (domains.transport): only
--                      its mailing_lists addresses and their companions (-request, -owner,
--                      ...; render.list_companions) are accepted, everything else is
--                      rejected at RCPT.
--   admin_audit        one row per change made through mapadm: who, when, what, the row
--                      before and after. Not serial-bumping: reading the log changes no map.

CREATE TABLE delivery_targets (
  id               INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name             VARCHAR(64) NOT NULL,
  -- Postfix transport(5) value: smtp:[exchange.example.edu]:25. May stay NULL when the
  -- routing domain is routed otherwise (a relay domain or a transport override).
  transport        VARCHAR(255) NULL,
  routing_domain   VARCHAR(253) NULL,
  address_template VARCHAR(320) NOT NULL DEFAULT '{uid}@{domain}',
  enabled          BOOLEAN NOT NULL DEFAULT TRUE,
  note             VARCHAR(255) NULL,
  created_at       TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at       TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY delivery_targets_name (name),
  UNIQUE KEY delivery_targets_routing_domain (routing_domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE accounts
  ADD COLUMN delivery_target_id INT UNSIGNED NULL AFTER smtp_nexthop,
  ADD COLUMN routing_address VARCHAR(320) NULL AFTER delivery_target_id,
  ADD COLUMN keep_copy BOOLEAN NOT NULL DEFAULT FALSE AFTER routing_address,
  ADD KEY accounts_delivery_target (delivery_target_id),
  ADD CONSTRAINT accounts_delivery_target FOREIGN KEY (delivery_target_id) REFERENCES delivery_targets (id),
  DROP CONSTRAINT accounts_smtp_has_nexthop,
  ADD CONSTRAINT accounts_smtp_has_route CHECK (delivery <> 'smtp' OR smtp_nexthop IS NOT NULL OR delivery_target_id IS NOT NULL);

ALTER TABLE domains
  MODIFY kind ENUM('local','alias','relay','list') NOT NULL;

CREATE TABLE admin_audit (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at           TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  -- the login name, or SUDO_USER when run through sudo
  who          VARCHAR(64) NOT NULL,
  host         VARCHAR(255) NOT NULL,
  -- one mapadm run (a bulk file is one batch of many rows)
  batch        CHAR(36) NOT NULL,
  command      VARCHAR(1000) NOT NULL,
  object_table VARCHAR(64) NOT NULL,
  object_key   VARCHAR(320) NOT NULL,
  action       ENUM('create','update','delete') NOT NULL,
  -- the row as JSON before and after the change (NULL: did not exist / deleted)
  before_row   LONGTEXT NULL,
  after_row    LONGTEXT NULL,
  -- change_serial.serial after the change was applied
  serial       BIGINT UNSIGNED NOT NULL,
  KEY admin_audit_at (at),
  KEY admin_audit_object (object_table, object_key),
  KEY admin_audit_batch (batch)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TRIGGER delivery_targets_serial_insert AFTER INSERT ON delivery_targets FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER delivery_targets_serial_update AFTER UPDATE ON delivery_targets FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER delivery_targets_serial_delete AFTER DELETE ON delivery_targets FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
