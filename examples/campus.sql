-- A small, realistic campus for the demo and the integration tests.
--
-- Students live on two Cyrus back ends, staff on Exchange, one retired professor
-- forwards elsewhere, one student forwards to a classmate and off campus; group
-- aliases (one nested), a list handed to a list server and one piped to a local list
-- manager, an alias domain, a relay domain, canonical rewrites, system aliases, and
-- accounts that must NOT receive mail (disabled, pending-delete, delivery none).
-- Load after `mapsync migrate`. Explicit ids keep the expected tables stable.

INSERT INTO domains (id, name, kind, target_domain_id, transport, note) VALUES
  (1, 'example.edu', 'local', NULL, NULL, 'main campus domain'),
  (2, 'alias.edu', 'alias', 1, NULL, 'old name of the university'),
  (3, 'dept.example.edu', 'relay', NULL, 'smtp:[mx.dept.example.edu]', 'physics runs its own server');

INSERT INTO backends (id, name, lmtp_host, lmtp_port, imap_host, imap_port, partitions) VALUES
  (1, 'be1', '127.0.0.2', 24, '127.0.0.2', 143, 'default,archive'),
  (2, 'be2', '127.0.0.3', 24, '127.0.0.3', 143, 'default');

INSERT INTO accounts (id, uid, given_name, surname, primary_address, status, delivery, backend_id, cyrus_partition,
                      smtp_nexthop, quota_mb, source) VALUES
  (1,  'jdoe',     'John',  'Doe',       'John.Doe@example.edu',      'active',         'cyrus',   1,    'default', NULL, 2048, 'ad'),
  (2,  'asmith',   'Alice', 'Smith',     'alice.smith@Example.EDU',   'active',         'cyrus',   2,    'default', NULL, 2048, 'ad'),
  (3,  'bwong',    'Bo',    'Wong',      'bo.wong@example.edu',       'active',         'cyrus',   1,    'archive', NULL, 2048, 'ad'),
  (4,  'jmueller', 'Jörg',  'Müller',    'Jörg.Müller@example.edu',   'active',         'cyrus',   2,    'default', NULL, 2048, 'ad'),
  (5,  'pprof',    'Pat',   'Professor', 'pat.professor@example.edu', 'active',         'smtp',    NULL, NULL, '[exchange.example.edu]', NULL, 'ad'),
  (6,  'dchair',   'Dana',  'Chair',     'dana.chair@example.edu',    'active',         'smtp',    NULL, NULL, '[exchange.example.edu]:25', NULL, 'ad'),
  (7,  'emeritus', 'Ed',    'Meritus',   'ed.meritus@example.edu',    'active',         'forward', NULL, NULL, NULL, NULL, 'manual'),
  (8,  'olaf',     'Olaf',  'Gone',      'olaf.gone@example.edu',     'disabled',       'cyrus',   1,    'default', NULL, 2048, 'ad'),
  (9,  'lving',    'Lee',   'Ving',      'lee.ving@example.edu',      'pending-delete', 'cyrus',   2,    'default', NULL, 2048, 'ad'),
  (10, 'noreply',  NULL,    NULL,        'noreply@example.edu',       'active',         'none',    NULL, NULL, NULL, NULL, 'manual'),
  (11, 'helpdesk', 'Help',  'Desk',      'helpdesk@example.edu',      'active',         'smtp',    NULL, NULL, '[exchange.example.edu]', NULL, 'manual'),
  (12, 'kstud',    'Kim',   'Student',   'kim.student@example.edu',   'active',         'forward', NULL, NULL, NULL, NULL, 'ad');

INSERT INTO addresses (id, account_id, address, kind) VALUES
  (1, 1, 'johnny@example.edu', 'alias'),
  (2, 1, 'j.doe@example.edu', 'proxy'),
  (3, 2, 'alice@example.edu', 'proxy'),
  (4, 4, 'joerg.mueller@example.edu', 'alias'),
  (5, 5, 'prof@example.edu', 'proxy'),
  (6, 8, 'olaf@example.edu', 'alias'),
  (7, 3, 'Bo.Straße@example.edu', 'alias');

INSERT INTO account_forwards (id, account_id, target) VALUES
  (1, 7, 'ed@retired.example.org'),
  (2, 12, 'John.Doe@example.edu'),
  (3, 12, 'kim@mail.example.net');

INSERT INTO group_aliases (id, address, description) VALUES
  (1, 'it-team@example.edu', 'IT operations'),
  (2, 'staff-all@example.edu', 'all staff, IT included'),
  (3, 'all-students@example.edu', 'every student');

INSERT INTO group_members (id, group_id, member_account_id, member_group_id, member_address) VALUES
  (1, 1, 1, NULL, NULL),
  (2, 1, 11, NULL, NULL),
  (3, 1, NULL, NULL, 'oncall@pager.example.net'),
  (4, 2, 5, NULL, NULL),
  (5, 2, 6, NULL, NULL),
  (6, 2, NULL, 1, NULL),
  (7, 2, 8, NULL, NULL),
  (8, 3, 1, NULL, NULL),
  (9, 3, 2, NULL, NULL),
  (10, 3, 3, NULL, NULL),
  (11, 3, 4, NULL, NULL),
  (12, 3, 12, NULL, NULL);

INSERT INTO mailing_lists (id, address, manager, transport, local_name, pipe_command) VALUES
  (1, 'announce@example.edu', 'transport', 'smtp:[lists.example.edu]', NULL, NULL),
  (2, 'chess@example.edu', 'pipe', NULL, 'chess-club', '/usr/lib/mailman/mail/mailman post chess-club');

INSERT INTO canonical_rewrites (id, source, target, note) VALUES
  (1, 'webmaster@example.edu', 'helpdesk@example.edu', 'the web team answers as helpdesk'),
  (2, '@oldname.example.edu', '@example.edu', 'hosts still configured with the old name');

INSERT INTO transport_overrides (id, pattern, transport, note) VALUES
  (1, 'dana.chair@example.edu', 'smtp:[exchange2.example.edu]:25', 'pilot on the new Exchange'),
  (2, 'legacy.example.edu', 'error:5.1.2 legacy.example.edu no longer receives mail', NULL);

INSERT INTO system_aliases (id, name, targets, all_domains) VALUES
  (1, 'postmaster', 'root', TRUE),
  (2, 'root', 'it-team@example.edu', FALSE),
  (3, 'abuse', 'it-team@example.edu', TRUE),
  (4, 'MAILER-DAEMON', 'postmaster', FALSE),
  (5, 'logs', 'root, "|/usr/bin/logger -t maillog"', FALSE);
