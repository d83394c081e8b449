-- Replay keys in a WITHOUT ROWID table keyed by the digest (one b-tree fewer; the expiry index then carries the digest, so it loses its insertion order).
CREATE TABLE replay2 (digest BLOB PRIMARY KEY NOT NULL, expires_at BIGINT NOT NULL) WITHOUT ROWID;
INSERT INTO replay2 SELECT digest, expires_at FROM replay_keys;
DROP TABLE replay_keys;
ALTER TABLE replay2 RENAME TO replay_keys;
CREATE INDEX replay_keys_expires_at ON replay_keys (expires_at);
