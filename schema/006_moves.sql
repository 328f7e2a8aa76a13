-- 006_moves: moving users' mailboxes between Cyrus back ends (mboxsync move, rebalance).
-- compatible-from: 5
--
-- Additive only: hubs at schema 5 read the database as before (mapsync build reads none of
-- these columns). A move is a provisioning job of kind 'move'; its row carries the target,
-- how far it got (step) and what the mailbox tree looked like before it moved (snapshot),
-- so that a run killed in the middle of a transfer can be resumed by the next one and still
-- compare the tree that arrived with the one that left.

-- A user whose mailbox is being moved: the transport map defers their mail (render.
-- moving_transport, Postfix's retry service by default) instead of routing it to a back end.
-- After XFER the old back end answers 550 5.1.1 for the user (Cyrus 3.6: it never forwards),
-- so no hub may still route the user there while the tree moves; mboxsync sets this, waits
-- until every hub has published it, moves, then records the new back end and clears it.
ALTER TABLE accounts ADD COLUMN mailbox_moving BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE provisioning_jobs
  ADD COLUMN source_backend_id  INT UNSIGNED NULL AFTER new_uid,
  ADD COLUMN target_backend_id  INT UNSIGNED NULL AFTER source_backend_id,
  ADD COLUMN target_partition   VARCHAR(64) NULL AFTER target_backend_id,
  -- queued: nothing done yet; snapshot: the tree was read on the source; transfer: XFER was
  -- sent (its outcome is found out by asking where the mailbox is); verified: the target
  -- holds the tree, mupdate names it, the account is being recorded there.
  ADD COLUMN step               ENUM('queued','snapshot','transfer','verified') NULL AFTER state,
  -- JSON: folders with message and unseen counts, quota root and limits, ACLs (mboxsync).
  ADD COLUMN snapshot           MEDIUMTEXT NULL AFTER step,
  ADD COLUMN bytes              BIGINT UNSIGNED NULL,
  ADD COLUMN messages           BIGINT UNSIGNED NULL,
  ADD COLUMN started_at         TIMESTAMP NULL,
  -- who asked: 'mboxsync move' by an admin, or a rebalance plan
  ADD COLUMN requested_by       VARCHAR(255) NULL,
  -- one pending move per account at a time, enforced by the database
  ADD COLUMN pending_move_account INT UNSIGNED AS (IF(kind = 'move' AND state = 'pending', account_id, NULL)) PERSISTENT,
  ADD UNIQUE KEY provisioning_jobs_one_move (pending_move_account),
  ADD CONSTRAINT provisioning_jobs_target FOREIGN KEY (target_backend_id) REFERENCES backends (id),
  ADD CONSTRAINT provisioning_jobs_source FOREIGN KEY (source_backend_id) REFERENCES backends (id);
