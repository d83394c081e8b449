-- The key-encryption key every stored private key is sealed under, by its id (never the key):
-- one row, written when the first key is sealed and moved by `grantor keys rewrap`. A node
-- given another key-encryption key (one made on its own first start, say) refuses to start, or
-- to add a key, instead of sealing keys that the other nodes cannot open.
CREATE TABLE key_encryption_key (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    kek_id TEXT NOT NULL
);
