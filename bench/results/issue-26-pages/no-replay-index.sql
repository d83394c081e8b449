-- Upper bound only (not a layout that keeps one use per jti): replay keys appended by rowid,
-- with no index on the digest.
CREATE TABLE replay2 (digest BLOB NOT NULL, expires_at BIGINT NOT NULL);
INSERT INTO replay2 SELECT digest, expires_at FROM replay_keys;
DROP TABLE replay_keys;
ALTER TABLE replay2 RENAME TO replay_keys;
CREATE INDEX replay_keys_expires_at ON replay_keys (expires_at);
