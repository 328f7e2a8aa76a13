-- 003_adsync: what adsync (the Active Directory reconcile) and mboxsync share.
--
--   ad_account_state   per AD-sourced account: where it was last seen and how many
--                      consecutive runs missed it (disabled in AD or gone from scope).
--                      Kept out of accounts so that counting misses does not bump the
--                      change serial: only a real change to an account rebuilds maps.
--   ad_dc_state        per domain controller: the highestCommittedUSN of the last run, for
--                      incremental runs, and when the last full run was.
--   ad_sync_runs       the audit log: one row per adsync apply.
--   provisioning_jobs  the mailbox queue: adsync enqueues, mboxsync consumes.

CREATE TABLE ad_account_state (
  account_id      INT UNSIGNED NOT NULL PRIMARY KEY,
  dn              VARCHAR(1024) NULL,
  usn_changed     BIGINT UNSIGNED NULL,
  missed_runs     INT UNSIGNED NOT NULL DEFAULT 0,
  missing_reason  ENUM('disabled','gone') NULL,
  missing_since   TIMESTAMP NULL,
  last_seen_at    TIMESTAMP NULL,
  CONSTRAINT ad_account_state_account FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE ad_dc_state (
  -- the DC's dsServiceName (its NTDS Settings object) and invocationId: a DC restored
  -- from a backup gets a new invocationId and its USNs can no longer be trusted
  dc_key          VARCHAR(255) NOT NULL PRIMARY KEY,
  invocation_id   VARCHAR(36) NOT NULL,
  dns_host_name   VARCHAR(255) NULL,
  highest_usn     BIGINT UNSIGNED NOT NULL,
  -- SHA-256 of the search scope in the config (bases, filter, group, attributes): a
  -- change of scope forces a full run
  scope_digest    CHAR(64) NOT NULL,
  last_full_at    TIMESTAMP(6) NULL,
  last_run_at     TIMESTAMP(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE ad_sync_runs (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  started_at      TIMESTAMP(6) NOT NULL,
  finished_at     TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  host            VARCHAR(255) NOT NULL,
  os_user         VARCHAR(64) NOT NULL,
  bound_as        VARCHAR(512) NOT NULL,
  dc              VARCHAR(512) NOT NULL,
  mode            ENUM('full','incremental') NOT NULL,
  result          ENUM('applied','no-change') NOT NULL,
  entries         INT UNSIGNED NOT NULL,
  creates         INT UNSIGNED NOT NULL,
  updates         INT UNSIGNED NOT NULL,
  renames         INT UNSIGNED NOT NULL,
  disables        INT UNSIGNED NOT NULL,
  enables         INT UNSIGNED NOT NULL,
  pending_deletes INT UNSIGNED NOT NULL,
  misses          INT UNSIGNED NOT NULL,
  conflicts       INT UNSIGNED NOT NULL,
  plan            LONGTEXT NOT NULL,
  KEY ad_sync_runs_started (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE provisioning_jobs (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account_id      INT UNSIGNED NOT NULL,
  kind            ENUM('create','rename','move') NOT NULL,
  -- rename: the mailbox's old and new user names
  old_uid         VARCHAR(64) NULL,
  new_uid         VARCHAR(64) NULL,
  state           ENUM('pending','done','failed') NOT NULL DEFAULT 'pending',
  attempts        INT UNSIGNED NOT NULL DEFAULT 0,
  last_error      TEXT NULL,
  not_before      TIMESTAMP NULL,
  created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  done_at         TIMESTAMP NULL,
  ad_sync_run_id  BIGINT UNSIGNED NULL,
  KEY provisioning_jobs_state (state, not_before),
  CONSTRAINT provisioning_jobs_account FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE,
  CONSTRAINT provisioning_jobs_run FOREIGN KEY (ad_sync_run_id) REFERENCES ad_sync_runs (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
