ALTER TABLE tenants DROP COLUMN qualified_subjects;
