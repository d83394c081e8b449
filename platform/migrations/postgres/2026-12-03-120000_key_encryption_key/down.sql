DROP TABLE key_encryption_key;
