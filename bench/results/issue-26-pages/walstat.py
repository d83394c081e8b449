"""Which b-trees one jwt-bearer exchange's writes put into SQLite's write-ahead log.

Copies a database the writer bench filled (`DIR=/some/dir cargo bench -p grantor --bench
writer`, stopped after its "filled" line, then `PRAGMA wal_checkpoint(TRUNCATE)` on it), applies
an optional SQL file (a layout to try), then commits BATCHES transactions of BATCH exchanges each
(a replay key, a family, an access and a refresh token, with ids shaped as the server makes them)
with automatic checkpoints off, reads the page number of every frame in the log and names its
b-tree with SQLite's `dbstat`. Page 1 (the schema's root) holds the file's size and free-page
count: written at every commit that grows the file.

Run: python3 walstat.py FILLED.db BATCH BATCHES [LAYOUT.sql]  (pages.txt: `bash pages.sh FILLED.db`)
"""
import collections
import os
import shutil
import sqlite3
import struct
import sys
import time

src, batch, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = os.path.join(os.path.dirname(os.path.abspath(src)), "walstat-copy.db")
for suffix in ["", "-wal", "-shm"]:
    if os.path.exists(db + suffix):
        os.remove(db + suffix)
shutil.copy(src, db)
c = sqlite3.connect(db, isolation_level=None)
c.execute("pragma journal_mode=wal")
c.execute("pragma wal_autocheckpoint=0")
c.execute("pragma foreign_keys=on")
if len(sys.argv) > 4:
    c.executescript(open(sys.argv[4]).read())
c.execute("pragma wal_checkpoint(truncate)")

sequence = 0
now = int(time.time())
for _ in range(batches):
    c.execute("begin immediate")
    for _ in range(batch):
        sequence += 1
        family = "%010x%010x.%s" % (now, sequence, os.urandom(12).hex())
        expires = now + 3600
        c.execute("insert into replay_keys (digest, expires_at) values (?, ?)",
                  (os.urandom(16), expires))
        c.execute("insert into token_families (family_id, tenant_domain, client_id, idp_issuer,"
                  " idp_created_at, via_service_account, started_at, expires_at, revoked_at)"
                  " values (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                  (family, "carbon.super", "bench-client", "https://idp.example.com", 1, 0, now,
                   expires))
        for kind in ["access", "refresh"]:
            token_id = "%012x%s" % (int(time.time() * 1000), os.urandom(10).hex())
            c.execute("insert into tokens (token_id, token_hash, token_kind, tenant_domain,"
                      " client_id, subject, scope, issued_at, expires_at, revoked_at, family_id,"
                      " claims) values (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                      (token_id, os.urandom(32).hex(), kind, "carbon.super", "bench-client",
                       "alice@example.com", "openid profile", now, expires, family,
                       '{"email":"alice@example.com","groups":["eng"]}'))
    c.execute("commit")

log = open(db + "-wal", "rb").read()
page_size = struct.unpack(">I", log[8:12])[0]
frames = []
offset = 32
while offset + 24 + page_size <= len(log):
    frames.append(struct.unpack(">I", log[offset:offset + 4])[0])
    offset += 24 + page_size
names = {}
for name, page, kind in c.execute("select name, pageno, pagetype from dbstat"):
    names[page] = name if kind == "leaf" else name + " (" + kind + ")"
counts = collections.Counter(names.get(p, "other") for p in frames)
requests = batch * batches
print(f"batches of {batch}, {batches} batches: {len(frames) / requests:.2f} pages per request,"
      f" {len(frames) / batches:.1f} per batch")
for name, n in counts.most_common():
    print(f"  {name:50s} {n / batches:6.2f} per batch  {n / requests:.3f} per request")
c.close()
for suffix in ["", "-wal", "-shm"]:
    if os.path.exists(db + suffix):
        os.remove(db + suffix)
