-- 005_fleet: several hubs on one database (replicas, Galera): leases, fleet status, fleet hold,
-- and the schema compatibility window.
-- compatible-from: 5
--
-- Every table has a primary key (Galera replicates row by row and needs one).
-- None of these tables has a change_serial trigger: hubs report and leases renew on every
-- run, and that must not make the next run of every hub think the user data changed.
--
-- schema_version.compatible_from: the oldest schema version whose programs can still use
-- the database at this version. A migration that only adds (a table, a nullable column)
-- keeps the previous value; one that changes what existing programs read raises it to
-- itself. A program that needs version R accepts a database at version F > R when the
-- row of F says compatible_from <= R. The line "-- compatible-from: N" in a migration's
-- header is what mapsync migrate records.

ALTER TABLE schema_version ADD COLUMN compatible_from INT UNSIGNED NULL;

-- One row per leader role (mapsync.adsync, mapsync.mboxsync). Taken and renewed by
-- compare-and-set; token grows with every new holder and fences a stale leader's writes.
CREATE TABLE leases (
  name         VARCHAR(64) NOT NULL PRIMARY KEY,
  owner        VARCHAR(255) NOT NULL DEFAULT '',
  token        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  expires_at   DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:01',
  acquired_at  DATETIME(6) NULL,
  renewed_at   DATETIME(6) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- What each hub last published and when it last ran, written best effort by mapsync build.
CREATE TABLE fleet_hubs (
  hub           VARCHAR(255) NOT NULL PRIMARY KEY,
  host          VARCHAR(255) NOT NULL,
  generation    BIGINT UNSIGNED NOT NULL,
  serial        BIGINT UNSIGNED NOT NULL,
  digest        CHAR(64) NOT NULL,
  maps          TEXT NOT NULL,
  published_at  DATETIME(6) NULL,
  reported_at   DATETIME(6) NOT NULL,
  version       VARCHAR(64) NOT NULL,
  schema_needed INT UNSIGNED NOT NULL,
  reader        VARCHAR(255) NOT NULL,
  lag_serials   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  lag_seconds   DOUBLE NOT NULL DEFAULT 0,
  result        VARCHAR(32) NOT NULL,
  held          TINYINT(1) NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The generations each hub has stored (maps.generations), by content: a fleet rollback
-- needs the same content on every hub.
CREATE TABLE fleet_generations (
  hub           VARCHAR(255) NOT NULL,
  generation    BIGINT UNSIGNED NOT NULL,
  serial        BIGINT UNSIGNED NOT NULL,
  digest        CHAR(64) NOT NULL,
  published_at  DATETIME(6) NULL,
  PRIMARY KEY (hub, generation),
  KEY fleet_generations_digest (digest)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row: a fleet-wide hold (every hub keeps its maps and refuses to publish), optionally
-- at the content of a rollback.
CREATE TABLE fleet_control (
  id               TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  held             TINYINT(1) NOT NULL DEFAULT 0,
  reason           VARCHAR(1000) NOT NULL DEFAULT '',
  held_by          VARCHAR(255) NOT NULL DEFAULT '',
  held_at          DATETIME(6) NULL,
  rollback_digest  CHAR(64) NULL,
  CONSTRAINT fleet_control_one_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO fleet_control (id, held) VALUES (1, 0);
