-- 007_change_log: one row per changed row, so that a build reads only what changed.
-- compatible-from: 6
--
-- Every trigger of 002/004 bumps change_serial by one per row; the triggers here follow
-- each of them (FOLLOWS) and record that row under the serial it just made: which table,
-- which row, and for the rows that belong to another (an address to its account, a group
-- member to its group) the owner before and after. mapsync build reads the rows after the
-- serial it published: when their serials are exactly the ones in between, nothing was
-- missed, and it re-renders only the accounts, groups, lists and rewrites they name (the
-- alias graph it keeps beside the maps finds who points at them). Anything else (a gap,
-- another table, too many rows, a config change) is a full build, and says why.
--
-- Cascaded foreign-key deletes fire no triggers: deleting an account leaves no rows for
-- its addresses; the account's own row is enough, since the build knows which keys and
-- groups it had. Rows before change_log_start.serial are not kept (nothing older than the
-- migration exists; a prune moves it forward): a hub that published before it builds in full.
-- Not serial-bumping, and no trigger writes change_log_start.

CREATE TABLE change_log (
  serial      BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  tbl         VARCHAR(32) NOT NULL,
  row_id      INT UNSIGNED NOT NULL,
  -- addresses, account_forwards: account_id; group_members: group_id (NEW, then OLD)
  owner_new   INT UNSIGNED NULL,
  owner_old   INT UNSIGNED NULL,
  changed_at  TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE change_log_start (
  id      TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  serial  BIGINT UNSIGNED NOT NULL,
  CONSTRAINT change_log_start_one_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO change_log_start (id, serial) SELECT 1, serial FROM change_serial WHERE id = 1;

CREATE TRIGGER domains_log_insert AFTER INSERT ON domains FOR EACH ROW FOLLOWS domains_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'domains', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER domains_log_update AFTER UPDATE ON domains FOR EACH ROW FOLLOWS domains_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'domains', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER domains_log_delete AFTER DELETE ON domains FOR EACH ROW FOLLOWS domains_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'domains', OLD.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER backends_log_insert AFTER INSERT ON backends FOR EACH ROW FOLLOWS backends_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'backends', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER backends_log_update AFTER UPDATE ON backends FOR EACH ROW FOLLOWS backends_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'backends', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER backends_log_delete AFTER DELETE ON backends FOR EACH ROW FOLLOWS backends_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'backends', OLD.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER accounts_log_insert AFTER INSERT ON accounts FOR EACH ROW FOLLOWS accounts_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'accounts', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER accounts_log_update AFTER UPDATE ON accounts FOR EACH ROW FOLLOWS accounts_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'accounts', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER accounts_log_delete AFTER DELETE ON accounts FOR EACH ROW FOLLOWS accounts_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'accounts', OLD.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER addresses_log_insert AFTER INSERT ON addresses FOR EACH ROW FOLLOWS addresses_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'addresses', NEW.id, NEW.account_id, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER addresses_log_update AFTER UPDATE ON addresses FOR EACH ROW FOLLOWS addresses_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'addresses', NEW.id, NEW.account_id, OLD.account_id FROM change_serial WHERE id = 1;
CREATE TRIGGER addresses_log_delete AFTER DELETE ON addresses FOR EACH ROW FOLLOWS addresses_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'addresses', OLD.id, NULL, OLD.account_id FROM change_serial WHERE id = 1;
CREATE TRIGGER account_forwards_log_insert AFTER INSERT ON account_forwards FOR EACH ROW FOLLOWS account_forwards_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'account_forwards', NEW.id, NEW.account_id, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER account_forwards_log_update AFTER UPDATE ON account_forwards FOR EACH ROW FOLLOWS account_forwards_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'account_forwards', NEW.id, NEW.account_id, OLD.account_id FROM change_serial WHERE id = 1;
CREATE TRIGGER account_forwards_log_delete AFTER DELETE ON account_forwards FOR EACH ROW FOLLOWS account_forwards_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'account_forwards', OLD.id, NULL, OLD.account_id FROM change_serial WHERE id = 1;
CREATE TRIGGER group_aliases_log_insert AFTER INSERT ON group_aliases FOR EACH ROW FOLLOWS group_aliases_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'group_aliases', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER group_aliases_log_update AFTER UPDATE ON group_aliases FOR EACH ROW FOLLOWS group_aliases_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'group_aliases', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER group_aliases_log_delete AFTER DELETE ON group_aliases FOR EACH ROW FOLLOWS group_aliases_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'group_aliases', OLD.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER group_members_log_insert AFTER INSERT ON group_members FOR EACH ROW FOLLOWS group_members_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'group_members', NEW.id, NEW.group_id, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER group_members_log_update AFTER UPDATE ON group_members FOR EACH ROW FOLLOWS group_members_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'group_members', NEW.id, NEW.group_id, OLD.group_id FROM change_serial WHERE id = 1;
CREATE TRIGGER group_members_log_delete AFTER DELETE ON group_members FOR EACH ROW FOLLOWS group_members_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'group_members', OLD.id, NULL, OLD.group_id FROM change_serial WHERE id = 1;
CREATE TRIGGER mailing_lists_log_insert AFTER INSERT ON mailing_lists FOR EACH ROW FOLLOWS mailing_lists_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'mailing_lists', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER mailing_lists_log_update AFTER UPDATE ON mailing_lists FOR EACH ROW FOLLOWS mailing_lists_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'mailing_lists', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER mailing_lists_log_delete AFTER DELETE ON mailing_lists FOR EACH ROW FOLLOWS mailing_lists_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'mailing_lists', OLD.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER canonical_rewrites_log_insert AFTER INSERT ON canonical_rewrites FOR EACH ROW FOLLOWS canonical_rewrites_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'canonical_rewrites', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER canonical_rewrites_log_update AFTER UPDATE ON canonical_rewrites FOR EACH ROW FOLLOWS canonical_rewrites_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'canonical_rewrites', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER canonical_rewrites_log_delete AFTER DELETE ON canonical_rewrites FOR EACH ROW FOLLOWS canonical_rewrites_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'canonical_rewrites', OLD.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER transport_overrides_log_insert AFTER INSERT ON transport_overrides FOR EACH ROW FOLLOWS transport_overrides_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'transport_overrides', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER transport_overrides_log_update AFTER UPDATE ON transport_overrides FOR EACH ROW FOLLOWS transport_overrides_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'transport_overrides', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER transport_overrides_log_delete AFTER DELETE ON transport_overrides FOR EACH ROW FOLLOWS transport_overrides_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'transport_overrides', OLD.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER system_aliases_log_insert AFTER INSERT ON system_aliases FOR EACH ROW FOLLOWS system_aliases_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'system_aliases', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER system_aliases_log_update AFTER UPDATE ON system_aliases FOR EACH ROW FOLLOWS system_aliases_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'system_aliases', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER system_aliases_log_delete AFTER DELETE ON system_aliases FOR EACH ROW FOLLOWS system_aliases_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'system_aliases', OLD.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER delivery_targets_log_insert AFTER INSERT ON delivery_targets FOR EACH ROW FOLLOWS delivery_targets_serial_insert INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'delivery_targets', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER delivery_targets_log_update AFTER UPDATE ON delivery_targets FOR EACH ROW FOLLOWS delivery_targets_serial_update INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'delivery_targets', NEW.id, NULL, NULL FROM change_serial WHERE id = 1;
CREATE TRIGGER delivery_targets_log_delete AFTER DELETE ON delivery_targets FOR EACH ROW FOLLOWS delivery_targets_serial_delete INSERT INTO change_log (serial, tbl, row_id, owner_new, owner_old) SELECT serial, 'delivery_targets', OLD.id, NULL, NULL FROM change_serial WHERE id = 1;
