-- 1: the subjects of the tenant's JWT access tokens, ID tokens and introspection answers carry the
-- tenant domain (alice@carbon.super, as WSO2 writes them), so one gateway tells users of different
-- tenants apart.
ALTER TABLE tenants ADD COLUMN qualified_subjects INTEGER NOT NULL DEFAULT 0;
