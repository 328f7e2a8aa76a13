-- 002_change_serial: every change to the user database bumps change_serial.serial.
--
-- mapsync build reads the serial inside its snapshot; a later run that finds the same
-- serial knows nothing changed without reading anything else. One row per statement
-- would be enough, but MariaDB has only row triggers; the extra updates cost a
-- primary-key write each and serialise writers on that row, which a user database
-- with a few thousand changes a day does not notice.
-- Cascaded foreign-key deletes fire no triggers in MariaDB; the parent's own delete
-- has already bumped the serial.

CREATE TRIGGER domains_serial_insert AFTER INSERT ON domains FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER domains_serial_update AFTER UPDATE ON domains FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER domains_serial_delete AFTER DELETE ON domains FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER backends_serial_insert AFTER INSERT ON backends FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER backends_serial_update AFTER UPDATE ON backends FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER backends_serial_delete AFTER DELETE ON backends FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER accounts_serial_insert AFTER INSERT ON accounts FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER accounts_serial_update AFTER UPDATE ON accounts FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER accounts_serial_delete AFTER DELETE ON accounts FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER addresses_serial_insert AFTER INSERT ON addresses FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER addresses_serial_update AFTER UPDATE ON addresses FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER addresses_serial_delete AFTER DELETE ON addresses FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER account_forwards_serial_insert AFTER INSERT ON account_forwards FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER account_forwards_serial_update AFTER UPDATE ON account_forwards FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER account_forwards_serial_delete AFTER DELETE ON account_forwards FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER group_aliases_serial_insert AFTER INSERT ON group_aliases FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER group_aliases_serial_update AFTER UPDATE ON group_aliases FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER group_aliases_serial_delete AFTER DELETE ON group_aliases FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER group_members_serial_insert AFTER INSERT ON group_members FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER group_members_serial_update AFTER UPDATE ON group_members FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER group_members_serial_delete AFTER DELETE ON group_members FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER mailing_lists_serial_insert AFTER INSERT ON mailing_lists FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER mailing_lists_serial_update AFTER UPDATE ON mailing_lists FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER mailing_lists_serial_delete AFTER DELETE ON mailing_lists FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER canonical_rewrites_serial_insert AFTER INSERT ON canonical_rewrites FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER canonical_rewrites_serial_update AFTER UPDATE ON canonical_rewrites FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER canonical_rewrites_serial_delete AFTER DELETE ON canonical_rewrites FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER transport_overrides_serial_insert AFTER INSERT ON transport_overrides FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER transport_overrides_serial_update AFTER UPDATE ON transport_overrides FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER transport_overrides_serial_delete AFTER DELETE ON transport_overrides FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER system_aliases_serial_insert AFTER INSERT ON system_aliases FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER system_aliases_serial_update AFTER UPDATE ON system_aliases FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
CREATE TRIGGER system_aliases_serial_delete AFTER DELETE ON system_aliases FOR EACH ROW UPDATE change_serial SET serial = serial + 1, changed_at = CURRENT_TIMESTAMP(6) WHERE id = 1;
