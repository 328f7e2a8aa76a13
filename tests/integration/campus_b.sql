-- Generation B of the example campus, for the crash test: applied on top of
-- examples/campus.sql it changes every map, so that "old" and "new" differ everywhere.
INSERT INTO accounts (id, uid, given_name, surname, primary_address, status, delivery, backend_id, cyrus_partition, source) VALUES
  (20, 'newstud', 'Nia', 'Newton', 'nia.newton@example.edu', 'active', 'cyrus', 2, 'default', 'ad');
INSERT INTO addresses (account_id, address) VALUES (20, 'nia@example.edu');
UPDATE accounts SET backend_id = 2 WHERE uid = 'jdoe';
DELETE FROM addresses WHERE address = 'johnny@example.edu';
INSERT INTO group_members (group_id, member_account_id) VALUES (3, 20);
INSERT INTO canonical_rewrites (source, target) VALUES ('info@example.edu', 'helpdesk@example.edu');
INSERT INTO domains (name, kind, transport) VALUES ('chem.example.edu', 'relay', 'smtp:[mx.chem.example.edu]');
UPDATE system_aliases SET targets = 'it-team@example.edu, oncall@pager.example.net' WHERE name = 'root';
